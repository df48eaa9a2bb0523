; Definitions: @def.function / @def.class with @name; facts: @call @import @raise @catch
(function_definition name: (identifier) @name) @def.function
(class_definition name: (identifier) @name) @def.class
(call function: (_) @call)
(import_statement name: (dotted_name) @import)
(import_statement name: (aliased_import name: (dotted_name) @import))
(import_from_statement module_name: (_) @import)
(raise_statement (call function: (_) @raise))
(raise_statement (identifier) @raise)
(raise_statement (attribute) @raise)
(except_clause (identifier) @catch)
(except_clause (attribute) @catch)
(except_clause (tuple (_) @catch))
(except_clause (as_pattern (identifier) @catch))
(except_clause (as_pattern (attribute) @catch))
(except_clause (as_pattern (tuple (_) @catch)))
(assignment left: (identifier) @assign.target right: (_) @assign.value)
(augmented_assignment left: (identifier) @assign.target right: (_) @assign.value)
[(dictionary) (dictionary_comprehension) (list) (list_comprehension) (set) (set_comprehension) (tuple)] @ds
(ERROR) @error
