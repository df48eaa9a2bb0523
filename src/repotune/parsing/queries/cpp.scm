(function_definition declarator: (function_declarator declarator: (_) @name)) @def.function
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (_) @name))) @def.function
(function_definition declarator: (reference_declarator (function_declarator declarator: (_) @name))) @def.function
(class_specifier name: (_) @name body: (_)) @def.class
(struct_specifier name: (_) @name body: (_)) @def.class
(call_expression function: (_) @call)
(preproc_include path: (_) @import)
(throw_statement (call_expression function: (_) @raise))
(catch_clause parameters: (parameter_list (parameter_declaration type: (_) @catch)))
(init_declarator declarator: (identifier) @assign.target value: (_) @assign.value)
(assignment_expression left: (identifier) @assign.target right: (_) @assign.value)
(initializer_list) @ds
(ERROR) @error
