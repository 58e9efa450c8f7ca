"""The pre-started worker ("zygote") and its task processes: stdlib only.

Everything here runs in the worker, an interpreter of its own that the
runner starts (:mod:`trio_launcher.runner.executor.worker_handle`) and that
never imports Trio, attrs or cattrs, or in the task processes it forks:

* :mod:`.zygote`: the worker's entry point and control loop;
* :mod:`.settings`: what every task process of one worker shares;
* :mod:`.task_process`: what a forked task process does;
* :mod:`.control`: the records on the control socket (the runner reads them too);
* :mod:`.wire`: the frames on a task's socket (the runner's end is
  :mod:`trio_launcher.runner.executor.channel`);
* :mod:`.posix`: process-group, ``prctl``, heap, fd-passing and rlimit helpers;
* :mod:`.confine`: the kernel layers.

Besides this package the worker imports only the task-process halves of
:mod:`trio_launcher.runner.sandbox` and :mod:`trio_launcher.runner.code_node`,
and :mod:`trio_launcher.prctl`.  ``tests/runner/worker/test_worker_imports.py``
imports all of it under ``python -I`` and checks that none of Trio, attrs or
cattrs is loaded.  This ``__init__`` imports nothing.
"""
