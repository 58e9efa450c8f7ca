"""How user code is laid out for execution: node modes, filenames, wrapper name.

Shared by the runner (which compiles the code) and the task process (which
runs it and maps errors back to the user's lines).  Imports nothing.
"""

ALL_ITEMS = "runOnceForAllItems"
PER_ITEM = "runOnceForEachItem"

#: Compile filenames per node mode (n8n's; Sentry filters on them).
FILENAMES = {
    ALL_ITEMS: "<all_items_task_execution>",
    PER_ITEM: "<per_item_task_execution>",
}

#: The user's code becomes the body of a function with this name, so that it
#: may ``return`` its result.  Stack traces show it as ``<module>``.
WRAPPER_NAME = "__n8n_user_code__"

#: The compiled code reads ``x.format`` and ``x.format_map`` through this
#: builtin (``FORMAT_HOOK(x, "format")``), so that ``str.format`` never walks
#: a field name the sandbox refuses.  See :mod:`trio_launcher.runner.sandbox.safe_format`.
FORMAT_HOOK = "__n8n_format_attribute__"
FORMAT_METHODS = frozenset({"format", "format_map"})
