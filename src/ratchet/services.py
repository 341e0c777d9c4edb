"""Services a run shares between its steps: task data, the fit cache and cross-fitting, built once per run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ratchet.artifacts import ArtifactView
from ratchet.config import TrainParams

if TYPE_CHECKING:
    from ratchet.crossfit.folds import FoldPlan
    from ratchet.crossfit.service import CrossFitter
    from ratchet.finetuning.finetune import TaskData
    from ratchet.finetuning.fitcache import FitCache

FOLDS_KEY = "data.folds"
CLEANING_KEY = "data.cleaning"


class RunServices:
    def __init__(self, run_dir: Path, device: str, configured: TrainParams, fold_workers: int | str = 1) -> None:
        from ratchet.crossfit.parallel import resolve_workers
        from ratchet.finetuning.fitcache import FitCache

        self.run_dir = Path(run_dir)
        self.workers = resolve_workers(fold_workers, device)
        self.fit_cache: FitCache = FitCache.for_run(self.run_dir, device, configured)
        self._task: dict[tuple[str, ...], TaskData] = {}
        self._plans: dict[str, FoldPlan] = {}

    def task_data(self, artifacts: ArtifactView) -> TaskData:
        """TaskData of the current data.train / data.valid / data.labels (one per version of the files, so its
        tokenization cache is shared by every fine-tune of the run on the same data)."""
        from ratchet.data.frames import read_labels, read_split
        from ratchet.finetuning.finetune import TaskData

        paths = [artifacts.get(key) for key in ("data.train", "data.valid", "data.labels")]
        key = tuple(f"{p}:{p.stat().st_mtime_ns}" for p in paths)
        if key not in self._task:
            self._task[key] = TaskData(read_split(paths[0]), read_split(paths[1]), read_labels(paths[2]))
        return self._task[key]

    def plan(self, artifacts: ArtifactView) -> FoldPlan:
        """The run's fold plan (data.folds); a holdout plan over train -> valid when no split step wrote one."""
        from ratchet.crossfit.folds import FoldPlan, holdout_plan

        path = artifacts.maybe(FOLDS_KEY) if FOLDS_KEY in artifacts.declared else None
        if path is None:
            data = self.task_data(artifacts)
            return holdout_plan(len(data.train), len(data.valid), seed=0, reason="no fold plan in this recipe")
        key = str(path)
        if key not in self._plans:
            self._plans[key] = FoldPlan.load(path)
        return self._plans[key]

    def crossfitter(self, ctx: Any) -> CrossFitter:
        from ratchet.crossfit.service import CrossFitter
        from ratchet.data.frames import Split

        data = self.task_data(ctx.artifacts)
        plan = self.plan(ctx.artifacts)
        pool = Split.concat(data.train, data.valid)
        if plan.crossfit and len(pool) != len(plan.fold_of):
            raise RuntimeError(f"the fold plan covers {len(plan.fold_of)} rows, the train+valid pool {len(pool)}")
        from ratchet.crossfit import cleaning

        cleaning_path = ctx.artifacts.maybe(CLEANING_KEY) if CLEANING_KEY in ctx.artifacts.declared else None
        return CrossFitter(plan, pool, data, data.labels, ctx, cleaning.load(cleaning_path), self.workers)
