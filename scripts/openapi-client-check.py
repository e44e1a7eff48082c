"""A client generated from the served OpenAPI document makes calls: openapi-python-client
(PyPI, an independent generator) builds `atelier_client` from /openapi.json into a
temporary dir; this script imports it and creates a task, reads it back and finds it
in a filtered list (query parameters), as a user of a generated client would.

Usage: python3 scripts/openapi-client-check.py GENERATED_DIR BASE_URL KEY
"""

import sys

generated, base_url, key = sys.argv[1:4]
sys.path.insert(0, generated)

from atelier_client import AuthenticatedClient  # noqa: E402
from atelier_client.api.system import health  # noqa: E402
from atelier_client.api.tasks import create_task, get_task, list_tasks  # noqa: E402
from atelier_client.models import CreateTaskRequest, TaskListView, TaskView  # noqa: E402

client = AuthenticatedClient(base_url=base_url, token=key, raise_on_unexpected_status=True)

answer = health.sync_detailed(client=client)
assert answer.status_code == 200, answer

request = CreateTaskRequest.from_dict(
    {"model": "local/placeholder", "input": {"prompt": "made by a generated client", "width": 96, "height": 64}}
)
created = create_task.sync(client=client, body=request)
assert isinstance(created, TaskView), created
read = get_task.sync(client=client, id=created.task_id)
assert isinstance(read, TaskView) and read.task_id == created.task_id, read
listed = list_tasks.sync(client=client, model="local/placeholder", limit=5)
assert isinstance(listed, TaskListView), listed
assert created.task_id in [task.task_id for task in listed.tasks], listed
missing = get_task.sync_detailed(client=client, id="tsk_nothing")
assert missing.status_code in (404, 422), missing
print(f"generated client: health, create_task {created.task_id} ({created.status}), get_task, list_tasks: ok")
