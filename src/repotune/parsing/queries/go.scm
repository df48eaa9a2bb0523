(function_declaration name: (identifier) @name) @def.function
(method_declaration name: (field_identifier) @name) @def.function
(type_declaration (type_spec name: (type_identifier) @name type: [(struct_type) (interface_type)])) @def.class
(call_expression function: (_) @call)
(import_spec path: (_) @import)
(short_var_declaration left: (expression_list . (identifier) @assign.target) right: (_) @assign.value)
(assignment_statement left: (expression_list . (identifier) @assign.target) right: (_) @assign.value)
[(composite_literal) (map_type) (slice_type)] @ds
(ERROR) @error
