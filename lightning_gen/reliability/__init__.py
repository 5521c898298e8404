"""Reliability: exact resume, graceful stop, atomic checkpoints, checkpoint validation, run-folder locks.

- ``checkpoint_io``: atomic ``.ckpt`` writes (temp file + fsync + ``os.replace``) and ``weights_only`` reads.
- ``compat``: what a checkpoint was made from (family class, hyper-parameters) and clear mismatch errors.
- ``resumable``: a train DataLoader whose order depends only on (seed, epoch) and that resumes mid-epoch.
- ``state``: a callback storing RNG states, loader position and the W&B run id in every checkpoint.
- ``signals``: SIGTERM / SIGINT / SIGUSR1 (SLURM) save a resumable checkpoint and stop.
- ``run_dir``: run-folder lock, writability check, resuming into an existing run folder.
"""
