(method_declaration name: (identifier) @name) @def.function
(constructor_declaration name: (identifier) @name) @def.function
(class_declaration name: (identifier) @name) @def.class
(interface_declaration name: (identifier) @name) @def.class
(enum_declaration name: (identifier) @name) @def.class
(record_declaration name: (identifier) @name) @def.class
(method_invocation name: (identifier) @call)
(object_creation_expression type: (_) @call)
(import_declaration (scoped_identifier) @import)
(throw_statement (object_creation_expression type: (_) @raise))
(catch_formal_parameter (catch_type (_) @catch))
(variable_declarator name: (identifier) @assign.target value: (_) @assign.value)
(assignment_expression left: (identifier) @assign.target right: (_) @assign.value)
[(array_creation_expression) (array_initializer) (generic_type)] @ds
(ERROR) @error
