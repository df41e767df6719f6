"""The store's schema as a list of migrations (PRAGMA user_version is how many are applied).

Schema history:
  1 - runs, cells, parity, samples.
  2 - evidence: every live figure with its source, date and collection time.
  3 - cells.spec (the workload spec, canonical JSON) and cells.spec_hash; the JSON columns hold
      versioned records (dlarena.records): environment nests the framework setup, a cell that
      never measured has summary NULL. Cells stored before 3 keep spec NULL: their spec is lost.
  4 - cells.api, threading, warnings, load, memory (JSON records); blocks (steps and seconds of each
      timed block, per worker process) and latency (per-call seconds per batch size) replace
      samples for new cells. A cell is rewritten after each of its worker processes.
  5 - runs.host, host_pid and heartbeat_at: a 'running' run whose host process is gone reads as
      'interrupted' (and can be resumed).
  6 - probes: each probe record (debuggability, deployment) with its framework, name (the probe,
      or the export path), tier (or the workload), status and the whole record as JSON. `dlarena
      scale` rows are kept there too (kind 'scale', name: the worker count, tier: the workload).
  7 - cells.reruns: the worker processes run again because the machine had a slow stretch (read
      back as 0 before 7: it was not stored).
  8 - indexes on parity and latency by cell, probes by kind: reading a cell's checks costs the
      same in a store of 10 runs and of 2,000.
  9 - blocks.round: the round of turns a block was timed in under paired isolation (NULL for a
      block of a process run, and for every block stored before 9).
 10 - parity.note: how part of a check was made otherwise, and why (tensors with a zero true
      gradient under Adam); NULL before 10 and where there is none.
Each migration is applied once, in order, inside a transaction.
"""

MIGRATIONS = (
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at REAL NOT NULL,
        finished_at REAL,
        status TEXT NOT NULL,          -- running | finished | interrupted
        git_sha TEXT,
        config TEXT NOT NULL           -- JSON: workloads, runtimes, tiers, threads, protocol
    );
    CREATE TABLE cells (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        workload TEXT NOT NULL,
        runtime TEXT NOT NULL,
        tier TEXT NOT NULL,
        mode TEXT NOT NULL,
        env_name TEXT,
        status TEXT NOT NULL,          -- ok | failed
        reason TEXT,
        exit_code INTEGER,
        stderr_tail TEXT,
        parity_passed INTEGER,         -- 1, 0, or NULL when parity never ran
        environment TEXT,              -- JSON: versions, CPU, threads, python, git sha
        phases TEXT,                   -- JSON: import_s, build_s, first_call_s, warmup_s
        summary TEXT,                  -- JSON: medians, CIs, throughput, latency percentiles
        created_at REAL NOT NULL
    );
    CREATE TABLE parity (
        cell_id INTEGER NOT NULL REFERENCES cells(id),
        check_name TEXT NOT NULL,
        max_abs REAL NOT NULL,
        max_rel REAL NOT NULL,
        tolerance REAL NOT NULL,
        passed INTEGER NOT NULL
    );
    CREATE TABLE samples (
        cell_id INTEGER NOT NULL REFERENCES cells(id),
        repeat INTEGER NOT NULL,
        seconds TEXT NOT NULL          -- JSON list: per-call seconds of one repeat
    );
    CREATE INDEX cells_by_run ON cells(run_id);
    """,
    """
    CREATE TABLE evidence (
        framework TEXT NOT NULL,
        metric TEXT NOT NULL,
        value TEXT NOT NULL,           -- JSON
        as_of TEXT NOT NULL,
        source TEXT NOT NULL,
        qualifier TEXT,
        collected_at REAL NOT NULL
    );
    CREATE INDEX evidence_by_metric ON evidence(framework, metric);
    """,
    """
    ALTER TABLE cells ADD COLUMN spec TEXT;
    ALTER TABLE cells ADD COLUMN spec_hash TEXT;
    UPDATE cells SET summary = NULL WHERE summary = '{}';
    UPDATE cells SET environment = json_object(
        'version', 1,
        'setup', json(CASE WHEN json_extract(environment, '$.framework_version') IS NULL
            THEN NULL ELSE json_object(
                'version', 1,
                'framework_version', json_extract(environment, '$.framework_version'),
                'device', json_extract(environment, '$.device'),
                'intra_op_threads', json_extract(environment, '$.intra_op_threads'),
                'inter_op_threads', json_extract(environment, '$.inter_op_threads')) END),
        'python', json_extract(environment, '$.python'),
        'numpy', json_extract(environment, '$.numpy'),
        'platform', json_extract(environment, '$.platform'),
        'machine', json_extract(environment, '$.machine'),
        'cpu_count', json_extract(environment, '$.cpu_count'),
        'threads', json_extract(environment, '$.threads'),
        'executable', json_extract(environment, '$.executable'),
        'dlarena_git_sha', json_extract(environment, '$.dlarena_git_sha'));
    """,
    """
    ALTER TABLE cells ADD COLUMN threading TEXT;
    ALTER TABLE cells ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE cells ADD COLUMN load TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE cells ADD COLUMN memory TEXT;
    ALTER TABLE cells ADD COLUMN api TEXT;
    CREATE TABLE blocks (
        cell_id INTEGER NOT NULL REFERENCES cells(id),
        process INTEGER NOT NULL,
        steps INTEGER NOT NULL,
        seconds REAL NOT NULL
    );
    CREATE TABLE latency (
        cell_id INTEGER NOT NULL REFERENCES cells(id),
        batch_size INTEGER NOT NULL,
        seconds TEXT NOT NULL          -- JSON list: per-call seconds
    );
    CREATE INDEX blocks_by_cell ON blocks(cell_id);
    """,
    """
    ALTER TABLE runs ADD COLUMN host TEXT;
    ALTER TABLE runs ADD COLUMN host_pid INTEGER;
    ALTER TABLE runs ADD COLUMN heartbeat_at REAL;
    """,
    """
    CREATE TABLE probes (
        id INTEGER PRIMARY KEY,
        measured_at REAL NOT NULL,
        kind TEXT NOT NULL,            -- debug | deploy
        framework TEXT NOT NULL,
        name TEXT NOT NULL,            -- debug: shape, dtype, nan, nan_check; deploy: the path
        tier TEXT NOT NULL,            -- debug: the tier; deploy: the workload and size
        status TEXT NOT NULL,          -- works | deprecated | fails | skipped
        record TEXT NOT NULL           -- JSON: everything the probe recorded
    );
    """,
    """
    ALTER TABLE cells ADD COLUMN reruns INTEGER NOT NULL DEFAULT 0;
    """,
    """
    CREATE INDEX IF NOT EXISTS parity_by_cell ON parity(cell_id);
    CREATE INDEX IF NOT EXISTS latency_by_cell ON latency(cell_id);
    CREATE INDEX IF NOT EXISTS probes_by_kind ON probes(kind, framework, name, tier);
    """,
    """
    ALTER TABLE blocks ADD COLUMN round INTEGER;
    """,
    """
    ALTER TABLE parity ADD COLUMN note TEXT;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
