"""A batched greedy frame-to-frame linker over detections, used to initialise tracking.

Every track holds its last box through misses. At each frame, tracks and detections are
matched greedily by IoU (best pair first, IoU ≥ ``iou_threshold``); a detection left
unmatched opens a new track in a free slot when one remains. Batched over sequences; the
only Python loops are over time (inherently sequential) and over the greedy rounds
(at most ``min(n_tracks, n_obs)`` per frame).
"""

from __future__ import annotations

import attrs
import torch
from torch import Tensor

from mixseq.errors import ShapeError

__all__ = ["LinkedTracks", "box_iou", "greedy_match", "link_detections", "select_tracks"]


@attrs.frozen(kw_only=True, eq=False)
class LinkedTracks:
    """Result of :func:`link_detections`.

    ``detection``: index of the detection slot each track took, shape
    ``(batch, time, track)``, -1 where the track had none.
    ``boxes``: each track's box, linearly interpolated between its detections and held
    before its first and after its last, shape ``(batch, time, track, 4)``; zero for a
    track that never had a detection.
    ``observed``: shape ``(batch, time, track)``. ``gap``: frames to the track's nearest
    detection, shape ``(batch, time, track)`` (``time`` where it never had one).
    """

    detection: Tensor
    boxes: Tensor
    observed: Tensor
    gap: Tensor

    @property
    def start(self) -> Tensor:
        """First frame of each track (``time`` if never observed). Shape ``(batch, track)``."""
        n_steps = self.observed.shape[1]
        t = torch.arange(n_steps, device=self.observed.device).view(1, -1, 1)
        return torch.where(self.observed, t, n_steps).amin(dim=1)

    @property
    def length(self) -> Tensor:
        """Number of frames with a detection. Shape ``(batch, track)``."""
        return self.observed.sum(dim=1)


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of ``xyxy`` boxes ``a`` ``(..., n, 4)`` and ``b`` ``(..., m, 4)``. Shape ``(..., n, m)``."""
    a = a.unsqueeze(-2)
    b = b.unsqueeze(-3)
    iw = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    ih = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]).clamp(min=0) * (a[..., 3] - a[..., 1]).clamp(min=0)
    area_b = (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)
    union = area_a + area_b - inter
    # An empty union (degenerate boxes) has IoU 0 rather than NaN.
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), 0.0)


def greedy_match(score: Tensor, threshold: float) -> Tensor:
    """Greedy one-to-one matching, best score first.

    ``score``: shape ``(batch, rows, cols)``, below ``threshold`` = not allowed.
    Returns the column matched to each row, -1 for none. Shape ``(batch, rows)``.
    """
    n_batch, n_rows, n_cols = score.shape
    match = torch.full((n_batch, n_rows), -1, dtype=torch.long, device=score.device)
    s = score.clone()
    batch = torch.arange(n_batch, device=score.device)
    for _ in range(min(n_rows, n_cols)):
        best, flat = s.reshape(n_batch, -1).max(dim=1)
        ok = best >= threshold
        if not bool(ok.any()):
            break
        row, col = flat // n_cols, flat % n_cols
        match[batch[ok], row[ok]] = col[ok]
        s[batch[ok], row[ok], :] = -1.0
        s[batch[ok], :, col[ok]] = -1.0
    return match


def link_detections(
    obs: Tensor,
    obs_mask: Tensor,
    n_tracks: int,
    *,
    iou_threshold: float = 0.1,
    velocity_smoothing: float = 0.0,
    max_extrapolation: int = 10,
) -> LinkedTracks:
    """Link detections into at most ``n_tracks`` tracks per sequence.

    Parameters
    ----------
    obs
        Detections, normalised ``xyxy``, shape ``(batch, time, obs, 4)``.
    obs_mask
        Shape ``(batch, time, obs)``.
    n_tracks
        Track slots per sequence; detections that find neither a track nor a free slot
        are left out.
    iou_threshold
        Smallest IoU between a track's predicted box and a detection to continue the track.
    velocity_smoothing
        0: a track's prediction is its last box (held through misses). Above 0: the last
        box moved by a velocity, the exponential average (this weight on the newest
        displacement) of the per-frame displacements between its detections.
    max_extrapolation
        Frames over which a missed track's velocity is extrapolated at most.
    """
    if obs.dim() != 4 or obs.shape[-1] != 4 or obs_mask.shape != obs.shape[:3]:
        raise ShapeError(
            f"obs, obs_mask: expected dims (batch, time, obs, 4) and (batch, time, obs), "
            f"got {tuple(obs.shape)} and {tuple(obs_mask.shape)}"
        )
    n_batch, n_steps, n_obs, _ = obs.shape
    device = obs.device
    batch = torch.arange(n_batch, device=device)
    if not 0.0 <= velocity_smoothing <= 1.0:
        raise ValueError(f"velocity_smoothing: expected a number in [0, 1], got {velocity_smoothing}")
    last = torch.zeros(n_batch, n_tracks, 4, dtype=obs.dtype, device=device)
    velocity = torch.zeros_like(last)
    last_t = torch.zeros(n_batch, n_tracks, dtype=obs.dtype, device=device)
    active = torch.zeros(n_batch, n_tracks, dtype=torch.bool, device=device)
    detection = torch.full((n_batch, n_steps, n_tracks), -1, dtype=torch.long, device=device)
    for t in range(n_steps):
        det, valid = obs[:, t], obs_mask[:, t]
        elapsed = (t - last_t).clamp(min=1.0)
        predicted = last + velocity * elapsed.clamp(max=max_extrapolation).unsqueeze(-1)
        iou = box_iou(predicted, det)
        iou = torch.where(active.unsqueeze(-1) & valid.unsqueeze(-2), iou, -1.0)
        match = greedy_match(iou, iou_threshold)  # (batch, track)
        taken = torch.zeros(n_batch, n_obs + 1, dtype=torch.bool, device=device)
        taken.scatter_(1, torch.where(match >= 0, match, n_obs), True)
        spare = valid & ~taken[:, :n_obs]
        # New tracks: the r-th spare detection goes to the r-th free slot.
        free = ~active & (match < 0)
        det_rank = torch.where(spare, spare.long().cumsum(1) - 1, n_obs + n_tracks)
        slot_rank = torch.where(free, free.long().cumsum(1) - 1, -1)
        by_rank = torch.full((n_batch, n_obs + n_tracks + 1), -1, dtype=torch.long, device=device)
        by_rank.scatter_(1, det_rank, torch.arange(n_obs, device=device).expand(n_batch, -1))
        new = torch.where(slot_rank >= 0, by_rank.gather(1, slot_rank.clamp(min=0)), -1)
        match = torch.where(match >= 0, match, new)
        hit = match >= 0
        detection[:, t] = match
        picked = det[batch.unsqueeze(1), match.clamp(min=0)]
        if velocity_smoothing > 0:
            step = (picked - last) / elapsed.unsqueeze(-1)
            smoothed = velocity_smoothing * step + (1 - velocity_smoothing) * velocity
            # A new track starts at rest; a continued one updates its velocity.
            velocity = torch.where((hit & active).unsqueeze(-1), smoothed,
                                   torch.where(hit.unsqueeze(-1), 0.0, velocity))
        last = torch.where(hit.unsqueeze(-1), picked, last)
        last_t = torch.where(hit, float(t), last_t)
        active |= hit
    return _interpolate(obs, detection)


def _interpolate(obs: Tensor, detection: Tensor) -> LinkedTracks:
    n_batch, n_steps, _ = detection.shape
    observed = detection >= 0
    b = torch.arange(n_batch, device=obs.device).view(-1, 1, 1)
    t = torch.arange(n_steps, device=obs.device).view(1, -1, 1)
    boxes_at = obs[b, t, detection.clamp(min=0)]  # (batch, time, track, 4)
    idx = torch.where(observed, t, -1)
    prev = idx.cummax(dim=1).values
    nxt = torch.where(observed, t, n_steps).flip(1).cummin(dim=1).values.flip(1)
    has_prev, has_next = prev >= 0, nxt < n_steps
    box_prev = boxes_at.gather(1, prev.clamp(min=0).unsqueeze(-1).expand(-1, -1, -1, 4))
    box_next = boxes_at.gather(1, nxt.clamp(max=n_steps - 1).unsqueeze(-1).expand(-1, -1, -1, 4))
    span = (nxt - prev).clamp(min=1)
    w = ((t - prev) / span).to(obs.dtype).unsqueeze(-1)
    both = (has_prev & has_next).unsqueeze(-1)
    boxes = torch.where(both, box_prev + w * (box_next - box_prev), torch.where(
        has_prev.unsqueeze(-1), box_prev, torch.where(has_next.unsqueeze(-1), box_next, 0.0)))
    big = torch.full_like(prev, n_steps)
    gap = torch.minimum(torch.where(has_prev, t - prev, big), torch.where(has_next, nxt - t, big))
    return LinkedTracks(detection=detection, boxes=boxes, observed=observed, gap=gap)


def select_tracks(tracks: LinkedTracks, n_sources: int, *, order_by: str = "start") -> tuple[Tensor, Tensor]:
    """Choose ``n_sources`` tracks per sequence.

    ``order_by="start"``: earliest start first, ties in slot order (tracks opened in the
    same frame keep their detections' order), so the first frame's detection ``n`` becomes
    source ``n``; ``"length"``: most detections first, ties by earliest start.
    Returns the chosen track indices, shape ``(batch, source)``, and whether each chosen
    track was ever observed, shape ``(batch, source)``.
    """
    if order_by not in ("start", "length"):
        raise ValueError(f"order_by: expected 'start' or 'length', got {order_by!r}")
    n_steps = tracks.observed.shape[1]
    if order_by == "start":
        key = tracks.start
    else:
        key = (n_steps - tracks.length) * (n_steps + 1) + tracks.start
    order = torch.sort(key, dim=1, stable=True).indices[:, :n_sources]
    seen = tracks.length.gather(1, order) > 0
    return order, seen
