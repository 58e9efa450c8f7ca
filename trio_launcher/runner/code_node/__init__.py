"""n8n Code-node semantics, as n8n's Python runner has them: stdlib only.

* :mod:`.run`: run compiled user code over the task's items (in the task process);
* :mod:`.print_capture`: the ``print`` user code sees;
* :mod:`.error_payloads`: n8n's error shapes for the ways user code fails;
* :mod:`.user_code`: how user code is laid out (node modes, file names,
  wrapper name), shared with the runner, which compiles it.

The worker imports these modules; the runner imports :mod:`.user_code`,
:mod:`.error_payloads` and :mod:`.run` (for ``continueOnFail``) too.  This
``__init__`` imports nothing.
"""
