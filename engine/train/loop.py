"""The loop both stages share: resume, step, EMA, learning-rate schedule, log, save (safetensors +
JSON, never pickle)."""
from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save
from tqdm import tqdm

from engine.io import atomic_path, write_json_atomic
from engine.train.config import TrainConfig

FIT_PROBE = (20, 60)  # the steps a fitted run times to plan its length


def save_state(path: Path, model, ema, opt, step: int, rng: np.random.Generator,
               gen: torch.Generator, extra: dict) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()})
    opt_state = opt.state_dict()
    for pid, st in opt_state["state"].items():
        for k, v in st.items():
            tensors[f"opt.{pid}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    tensors["torch_generator"] = gen.get_state()
    meta = {"step": step, "param_groups": opt_state["param_groups"],
            "numpy_rng": rng.bit_generator.state, **extra}
    # The meta travels inside the safetensors header: the one rename that commits the tensors
    # commits the step, RNG and optimizer groups with them. Two files renamed one after the
    # other were mixed by a kill in between (step N's JSON over step N+k's weights, resumed
    # without a word). The .json beside it is a readable copy, never read back.
    with atomic_path(path.with_suffix(".safetensors")) as tmp:
        # bytes written into atomic_path's own file: safetensors' save_file makes a temp file of
        # its own (left behind, full size, by a kill; and created 0600)
        tmp.write_bytes(save(tensors, metadata={"state": json.dumps(meta, allow_nan=False)}))
    write_json_atomic(meta, path.with_suffix(".json"))


def read_state_meta(path: Path) -> dict:
    """A saved state's meta (step, RNG, config ...), read without loading its tensors. States
    from before the meta moved into the safetensors header read it from the .json beside it.
    A missing, truncated or corrupt state is refused with its path: resuming must never
    quietly become starting over."""
    weights, meta_json = path.with_suffix(".safetensors"), path.with_suffix(".json")
    try:
        if not weights.is_file():
            raise FileNotFoundError(f"{weights} is missing")
        with safe_open(str(weights), framework="pt") as f:
            header = f.metadata() or {}
        if "state" in header:
            return json.loads(header["state"])
        return json.loads(meta_json.read_text())
    except (OSError, ValueError, SafetensorError) as e:
        raise SystemExit(f"cannot resume from {weights}: {e}. Restore the state, or move "
                         f"{path.name}.* aside to start this stage over") from None


def load_state(path: Path, meta: dict, model, ema, opt, rng: np.random.Generator,
               gen: torch.Generator) -> dict:
    """Restore a state whose meta (read_state_meta) the caller has read and checked."""
    try:
        tensors = load_file(str(path.with_suffix(".safetensors")))
    except (OSError, SafetensorError) as e:
        raise SystemExit(f"cannot resume from {path.with_suffix('.safetensors')}: {e}") from None
    check_same_shapes(tensors, model, path)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    state: dict = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    rng.bit_generator.state = meta["numpy_rng"]
    gen.set_state(tensors["torch_generator"])
    return meta


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    # one fused call over all parameters (on CUDA): a lerp per parameter was 160 launches a step
    torch._foreach_lerp_(list(ema.parameters()), [p.detach() for p in model.parameters()], 1 - decay)


def run_loop(name, model, ema, opt, work: Path, steps: int, minutes: float | None, seed: int,
          step_fn, cfg: TrainConfig, ema_decay: float, extra_state=None, fit: bool = False):
    """The shared loop: resume, step, EMA, log, save on time and at the end.

    With fit (and minutes), the run plans its own length: it times steps FIT_PROBE[0]..FIT_PROBE[1]
    (after warm-up and any kernel autotuning) and sets the step count, and so the learning-rate
    schedule's decay, to what fills the time left. That is how a lent GPU of unknown speed gets a
    complete schedule instead of a run cut off mid-plateau. While the run is still on its plateau
    it re-times its steps at each doubling of the step count and plans again (`refit`): on an H100
    the steps after the probe ran faster than the probe's, and a plan kept from the probe
    finished 17% early. A resumed run keeps its planned count.
    Returns (steps done, wall seconds, steps planned)."""
    if fit and not minutes:
        raise ValueError("fit plans the run to fill --minutes; give minutes")
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    state_path = work / f"{name}_state"
    step, wall_before = 0, 0.0
    keeps_plan = fit  # saves its step count, which a resume then keeps
    for stale in work.glob(f".{state_path.name}.*.tmp-*"):  # left by a kill during a save
        stale.unlink(missing_ok=True)
    if state_path.with_suffix(".safetensors").is_file() or state_path.with_suffix(".json").is_file():
        saved = read_state_meta(state_path)
        check_same_recipe(saved.get("config"), cfg, state_path)
        check_same_source(saved, extra_state or {}, state_path)
        meta = load_state(state_path, saved, model, ema, opt, rng, gen)
        step, wall_before = meta["step"], meta.get("wall_s", 0.0)
        keeps_plan = keeps_plan or "planned_steps" in meta
        steps = meta.get("planned_steps", steps)  # a fitted run keeps its plan; others take `steps`
        print(f"[{name}] resumed at step {step} of {steps} after {wall_before / 60:.1f} min")
    stop = _StopFlag()
    planning = fit and step == 0
    probe_start = None
    refit_from = None   # (step, time) the next re-timing counts from, once planned
    deadline = time.time() + minutes * 60 if minutes else None
    last_save = time.time()
    log = (work / "log.jsonl").open("a")
    bar = tqdm(total=steps, initial=step, desc=name, dynamic_ncols=True)
    t_start = time.time()
    def state():
        plan = {"planned_steps": steps} if keeps_plan else {}
        return {**(extra_state or {}), "wall_s": wall_before + time.time() - t_start, **plan,
                "config": config_dict(cfg)}

    for g in opt.param_groups:  # 'initial_lr' travels in the saved param_groups across resumes
        g.setdefault("initial_lr", g["lr"])
    try:
        while step < steps:
            for g in opt.param_groups:  # derived from the step, so a resumed run follows the same curve
                g["lr"] = g["initial_lr"] * lr_factor(step, steps, cfg)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_cuda(model)):
                losses = step_fn(rng, gen)
            opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            ema_update(ema, model, ema_decay if step > 100 else 0.0)
            step += 1
            bar.update(1)
            if planning and step == FIT_PROBE[0]:
                probe_start = time.time()
            elif planning and step == FIT_PROBE[1]:
                per_step = (time.time() - probe_start) / (FIT_PROBE[1] - FIT_PROBE[0])
                # once planned, the run is let finish its decay: the deadline gets a grace of a tenth
                # of the budget (on an H100 the VAE's steps slowed 8% after the probe and the
                # deadline cut it 10 steps short of its plan)
                steps = plan_steps(step, per_step, deadline - time.time())
                plan_deadline = deadline
                deadline += 0.1 * minutes * 60
                planning = False
                refit_from = (step, time.time())
                bar.total = steps
                bar.write(f"[{name}] {per_step * 1000:.0f} ms a step: planned {steps} steps to fill {minutes} min")
            elif refit_from is not None and step == 2 * refit_from[0]:
                per_step = (time.time() - refit_from[1]) / (step - refit_from[0])
                planned, steps = steps, refit(step, steps, per_step, plan_deadline - time.time(), cfg)
                refit_from = (step, time.time())
                if steps != planned:
                    bar.total = steps
                    bar.write(f"[{name}] {per_step * 1000:.0f} ms a step since: planned {steps} steps")
            if step % cfg.log_every == 0 or step == steps:
                # time: this run's seconds; wall_s: the stage's, summed over resumed runs
                entry = {"stage": name, "step": step, "time": round(time.time() - t_start, 1),
                         "wall_s": round(wall_before + time.time() - t_start, 1),
                         **{k: round(float(v.detach()), 5) for k, v in losses.items()}}
                if not np.isfinite(entry["loss"]):
                    bar.close()
                    raise SystemExit(f"[{name}] the loss is {entry['loss']} at step {step}; nothing was "
                                     f"saved after it (the state in {work} is the last finite one). "
                                     f"Lower the learning rate and resume, or start over")
                log.write(json.dumps(entry) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{losses['loss'].item():.4f}")
            if time.time() - last_save > cfg.save_every_s or step == steps or stop.asked:
                check_finite(model, name, step, work)
                save_state(state_path, model, ema, opt, step, rng, gen, state())
                last_save = time.time()
            if stop.asked:
                bar.close()
                stop.restore()
                raise SystemExit(f"[{name}] interrupted: state saved at step {step} in {work}; run the "
                                 f"same command again to resume")
            if deadline and time.time() > deadline:
                check_finite(model, name, step, work)
                save_state(state_path, model, ema, opt, step, rng, gen, state())
                bar.write(f"[{name}] time budget reached at step {step}; run again to resume")
                break
    finally:
        stop.restore()
        log.close()       # also on the exits above (a diverged loss, Ctrl-C)
    bar.close()
    return step, state()["wall_s"], steps


# what a resumed run may change: its length and how often it saves and logs
RESUMABLE_CHANGES = {"vae_steps", "dit_steps", "save_every_s", "log_every"}


def config_dict(cfg: TrainConfig) -> dict:
    """The config as its JSON round trip gives it back (tuples become lists)."""
    return json.loads(json.dumps(asdict(cfg)))


def check_same_recipe(saved: dict | None, cfg: TrainConfig, state_path: Path) -> None:
    """Refuse to resume a run under other settings: a run started with --set vae_object_weight=0
    and resumed without it would silently train on a mix of two recipes. States from before
    configs were saved carry none and are not checked; a field added since a state was saved
    counts as its default there (a new field's default keeps the behaviour from before it)."""
    if saved is None:
        return
    now, defaults = config_dict(cfg), config_dict(TrainConfig())
    changed = sorted(k for k in now.keys() | saved.keys()
                     if k not in RESUMABLE_CHANGES and now.get(k) != saved.get(k, defaults.get(k)))
    if changed:
        detail = ", ".join(f"{k}: {saved.get(k)!r} then, {now.get(k)!r} now" for k in changed)
        raise SystemExit(f"{state_path} was trained with other settings ({detail}); resume with the "
                         f"same --recipe and --set options, or use another --work folder")


def check_same_source(saved: dict, now: dict, state_path: Path) -> None:
    """Refuse to resume a stage whose inputs changed (extra_state: e.g. the DiT's VAE, or the
    model whose decoder is tuned). A DiT state resumed on a VAE trained on since, or a decoder
    state resumed under another --from, was shipped as a mismatched checkpoint without a word."""
    changed = [k for k in now if k in saved and saved[k] != now[k]]
    if changed:
        raise SystemExit(f"{state_path} was trained on other inputs ({', '.join(changed)} differ: "
                         f"{', '.join(f'{saved[k]!r} then, {now[k]!r} now' for k in changed)}); "
                         f"use another --work folder, or move {state_path.name}.* aside to start over")


def check_same_shapes(tensors: dict, model: torch.nn.Module, state_path: Path) -> None:
    """A state saved by another architecture (another --recipe in the same --work) is refused
    in words, before load_state_dict's page of size mismatches."""
    saved = {k[6:]: tuple(v.shape) for k, v in tensors.items() if k.startswith("model.")}
    now = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if saved != now:
        raise SystemExit(f"{state_path} holds another model ({len(saved.keys() ^ now.keys())} "
                         f"parameter names and {sum(saved[k] != now[k] for k in saved.keys() & now.keys())} "
                         f"shapes differ): it was trained under another --recipe; use another --work folder")


def check_finite(model: torch.nn.Module, name: str, step: int, work: Path) -> None:
    """Never save a state with NaN or infinite weights over the last good one."""
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        raise SystemExit(f"[{name}] the weights are not finite at step {step}; not saved (the state "
                         f"in {work} is the last finite one). Lower the learning rate and resume")


class _StopFlag:
    """Ctrl-C (SIGINT) asks the loop to stop after the current step, save and exit; a second
    Ctrl-C interrupts at once. Only the main thread can take signals."""

    def __init__(self):
        self.asked = False
        self._old = None
        # a process started with Ctrl-C ignored (a background job) keeps ignoring it
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN):
            self._old = signal.signal(signal.SIGINT, self._ask)

    def _ask(self, signum, frame):
        self.asked = True
        self.restore()
        print("\nstopping after this step to save (Ctrl-C again to quit without saving)", flush=True)

    def restore(self):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None


def plan_steps(step: int, per_step: float, seconds_left: float) -> int:
    """The step count that fills seconds_left at per_step from `step`, less a margin for saves
    and slower later steps."""
    return step + max(1, int(0.92 * seconds_left / per_step))


def refit(step: int, planned: int, per_step: float, seconds_left: float, cfg: TrainConfig) -> int:
    """A fitted run's step count re-planned at `step` from its recent pace, or the old plan where
    the learning rate would change: only while `step` is on the plateau of both schedules does the
    new plan leave every step taken so far, and the warm-up, as they were."""
    new = plan_steps(step, per_step, seconds_left)
    on_plateau = step < min(planned, new) * (1 - cfg.decay_frac)
    return new if on_plateau else planned


def lr_factor(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up, a plateau, then a cosine decay to final_lr_frac over the last decay_frac."""
    warm = min(1.0, (step + 1) / cfg.warmup_steps)
    start = total * (1 - cfg.decay_frac)
    if step < start:
        return warm
    progress = min(1.0, (step - start) / max(1.0, total - start))
    return warm * (cfg.final_lr_frac + (1 - cfg.final_lr_frac) * 0.5 * (1 + float(np.cos(np.pi * progress))))


def on_cuda(model: torch.nn.Module) -> bool:
    return next(model.parameters()).device.type == "cuda"
