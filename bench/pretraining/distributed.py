"""Data-parallel pretraining through ``torchrun``: the runs of a ``pretrain`` suite on several processes.

    torchrun --standalone --nproc_per_node 2 -m bench.pretraining.distributed suites/transfer_pretrain.yaml [--out DIR]

Each process loads the suite and its data (rank 0 materialises the files first), then trains
every pretraining run not yet recorded with ``DistributedDataParallel`` (gloo on CPUs, NCCL with
one GPU per process when CUDA is present); the suite's ``train.batch_size`` is the *global*
batch, split across processes, so the loss trajectory is that of one process (the shared
loop's batch step with ``bench.training.distributed``). Rank 0 alone writes checkpoints and records, into the same run
folder ``bench run`` uses: a later ``bench run`` of the same suite finds them and trains nothing
again, and a killed ``torchrun`` resumes from its last checkpoint when started again.

Several GPUs on one machine: ``--nproc_per_node <GPUs>``. Several machines: on each,
``torchrun --nnodes N --node_rank i --nproc_per_node <GPUs> --rdzv_backend c10d
--rdzv_endpoint HOST:PORT -m bench.pretraining.distributed SUITE --out DIR``, with the run folder
and the data cache (``--cache-dir``) on a file system every machine sees.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from bench.errors import BenchError, SuiteError


def run(suite_path: str, out: str | None, cache_dir: str | None) -> int:
    from bench.protocols import RunContext
    from bench.protocols.pretrain import PretrainParams, execute_in
    from bench.results.records import write_record
    from bench.suite.execute import DatasetCache
    from bench.suite.loader import load_suite
    from bench.suite.plan import plan_runs
    from bench.suite.schedule import default_out, runs_to_do

    cuda = torch.cuda.is_available()
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    rank, local = dist.get_rank(), int(os.environ.get("LOCAL_RANK", 0))
    device = f"cuda:{local}" if cuda else "cpu"
    if cuda:
        torch.cuda.set_device(local)
    try:
        suite = load_suite(suite_path)
        torch.set_num_threads(suite.spec.threads)
        if suite.spec.protocol.name != "pretrain":
            raise SuiteError(f"Suite file {suite_path}: bench.pretraining.distributed runs the pretrain protocol; this "
                             f"suite's protocol is '{suite.spec.protocol.name}' (use `bench run`).")
        folder = Path(out) if out else default_out(suite)
        todo = runs_to_do(plan_runs(suite), folder)
        cache = DatasetCache(suite, Path(cache_dir) if cache_dir else None, progress=rank == 0)
        if rank == 0:  # materialise (simulate, import) once, before the others read
            for ds in {r.dataset.name: r.dataset for r in todo}.values():
                cache.recordings(ds)
        dist.barrier()
        params = suite.protocol_params()
        assert isinstance(params, PretrainParams)
        ctx = RunContext(suite, cache, device, rank == 0, params)
        for record in execute_in(todo, ctx, folder):
            if rank == 0:
                record.provenance["distributed"] = {"world_size": dist.get_world_size(), "backend": dist.get_backend()}
                write_record(folder, record)
                print(f"wrote {folder / 'records' / record.file_name}", flush=True)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pretraining.distributed", description=__doc__.split("\n")[0])
    parser.add_argument("suite")
    parser.add_argument("--out", default=None, help="run folder (default runs/<suite name>)")
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args(argv)
    if "RANK" not in os.environ:
        print("bench.pretraining.distributed is started by torchrun (e.g. torchrun --standalone --nproc_per_node 2 "
              "-m bench.pretraining.distributed SUITE); for one process use `python -m bench run SUITE`.",
              file=sys.stderr)
        return 2
    try:
        return run(args.suite, args.out, args.cache_dir)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
