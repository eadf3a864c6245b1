"""Print the notification table's columns, indexes and foreign keys (SQLite), as JSON."""

import json
import os
import sqlite3

db = sqlite3.connect(os.environ["HQ_DB"])
table = "notifications_notification"
columns = db.execute(f"PRAGMA table_info({table})").fetchall()
indexes = {}
for _seq, name, unique, *_ in db.execute(f"PRAGMA index_list({table})").fetchall():
    cols = [row[2] for row in db.execute(f"PRAGMA index_info({name})").fetchall()]
    indexes[name] = {"unique": unique, "columns": cols}
foreign = sorted(row[2:5] for row in db.execute(f"PRAGMA foreign_key_list({table})").fetchall())
print(json.dumps({"columns": columns, "indexes": indexes, "foreign_keys": foreign}, indent=1))
