-- Each run keeps a bounded log: its task's messages and its command's output.
ALTER TABLE butler_run ADD COLUMN log TEXT NOT NULL DEFAULT '';
