"""The language-level sandbox: its runner half and its task-process half.

In the runner (Trio side):

* :mod:`.policy`: :class:`~.policy.SandboxPolicy`, read from the
  ``N8N_RUNNERS_*`` variables, and its wire form for the worker;
* :mod:`.static_check`: the AST check of user code, before any process is used;
* :mod:`.kernel_plan`: what the worker's kernel layers allow, from the policy;
* :mod:`.confinement_check`: the worker's report of its kernel layers
  against the sandbox mode.

In the worker and its task processes (stdlib only, no ``typing`` at run time):

* :mod:`.runtime`: the builtins table, module views, the checking importer
  and the process lock-down;
* :mod:`.module_guards`, :mod:`.safe_format`, :mod:`.hardened`: what user
  code gets in place of functions that would undo the checks.

Asked by both halves, so that they agree: :mod:`.import_rules` and
:mod:`.attribute_rules` (stdlib only).  This ``__init__`` imports nothing,
so the worker loads only the modules it uses.
"""
