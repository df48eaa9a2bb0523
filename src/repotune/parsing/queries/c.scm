(function_definition declarator: (function_declarator declarator: (identifier) @name)) @def.function
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))) @def.function
(struct_specifier name: (type_identifier) @name body: (_)) @def.class
(call_expression function: (_) @call)
(preproc_include path: (_) @import)
(init_declarator declarator: (identifier) @assign.target value: (_) @assign.value)
(assignment_expression left: (identifier) @assign.target right: (_) @assign.value)
(initializer_list) @ds
(ERROR) @error
