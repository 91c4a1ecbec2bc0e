# Patchflow's stdout callback: the whole run as one JSON document on stdout, in the same shape as
# ansible.posix.json ({"plays": [{"play", "tasks": [{"task", "hosts": {...}}]}], "stats": {...}}),
# so that Patchflow does not depend on the ansible.posix collection being installed.
from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
    name: patchflow_json
    type: stdout
    short_description: Whole-run JSON for Patchflow (ansible.posix.json shape)
    description: Prints one JSON document when the run ends.
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'patchflow_json'

    def __init__(self, display=None):
        super().__init__(display)
        self.results = []

    def _new_play(self, play):
        return {'play': {'name': play.get_name(), 'id': str(play._uuid)}, 'tasks': []}

    def _new_task(self, task):
        return {'task': {'name': task.get_name(), 'id': str(task._uuid)}, 'hosts': {}}

    def v2_playbook_on_play_start(self, play):
        self.results.append(self._new_play(play))

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.results[-1]['tasks'].append(self._new_task(task))

    def v2_playbook_on_handler_task_start(self, task):
        self.results[-1]['tasks'].append(self._new_task(task))

    def _record(self, result, **flags):
        host = result._host.get_name()
        entry = dict(result._result)
        entry.update(flags)
        entry['action'] = result._task.action
        self.results[-1]['tasks'][-1]['hosts'][host] = entry

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._record(result, failed=True, ignore_errors=ignore_errors)

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._record(result, unreachable=True)

    def v2_runner_on_skipped(self, result, **kwargs):
        self._record(result, skipped=True)

    def v2_playbook_on_stats(self, stats):
        summary = {h: stats.summarize(h) for h in sorted(stats.processed.keys())}
        # set_stats data gathered over the hosts (per_host: false) is kept under '_run', as
        # ansible.posix.json's global_custom_stats and AWX's job artifacts show it.
        custom = getattr(stats, 'custom', {}).get('_run', {})
        self._display.display(
            json.dumps({'plays': self.results, 'stats': summary, 'global_custom_stats': custom}, default=str)
        )
