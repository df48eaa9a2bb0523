(function_item name: (identifier) @name) @def.function
(struct_item name: (type_identifier) @name) @def.class
(enum_item name: (type_identifier) @name) @def.class
(trait_item name: (type_identifier) @name) @def.class
(call_expression function: (_) @call)
(macro_invocation macro: (_) @call)
(use_declaration argument: (_) @import)
(let_declaration pattern: (identifier) @assign.target value: (_) @assign.value)
(assignment_expression left: (identifier) @assign.target right: (_) @assign.value)
[(array_expression) (struct_expression)] @ds
(ERROR) @error
