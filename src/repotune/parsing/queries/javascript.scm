(function_declaration name: (identifier) @name) @def.function
(generator_function_declaration name: (identifier) @name) @def.function
(method_definition name: (_) @name) @def.function
(class_declaration name: (_) @name) @def.class
(variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression)]) @def.function
(call_expression function: (_) @call)
(new_expression constructor: (_) @call)
(import_statement source: (string) @import)
(throw_statement (new_expression constructor: (_) @raise))
(catch_clause parameter: (_) @catch)
(variable_declarator name: (identifier) @assign.target value: (_) @assign.value)
(assignment_expression left: (identifier) @assign.target right: (_) @assign.value)
[(object) (array)] @ds
(ERROR) @error
