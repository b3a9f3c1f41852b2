"""Create Optuna's tables if the database is new, then exec optuna-dashboard on it.

optuna-dashboard opens the storage without creating tables, so on a fresh Postgres
(before the first `tuner study run`) it would exit with "relation version_info does
not exist"; opening it once as an RDBStorage creates the schema.
"""

import os
import sys
import time

import optuna

url = sys.argv[1] if len(sys.argv) > 1 else os.environ["OPTUNA_STORAGE"]
deadline = time.monotonic() + 60
while True:
    try:
        optuna.storages.RDBStorage(url)
        break
    except Exception as exc:  # the database may still be starting
        if time.monotonic() > deadline:
            raise SystemExit(f"dashboard: cannot open the storage: {exc}") from None
        time.sleep(1)
os.execvp("optuna-dashboard", ["optuna-dashboard", "--host", "0.0.0.0", "--port", "8080", url])
