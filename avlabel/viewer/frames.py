"""What the viewer shows of one sweep, prepared without any GUI (numpy only).

`LogFrames` reads a log's sweeps through the sync stage (`avlabel.sync.frames.LogSync`:
de-skewed points, the ego pose, the nearest image of each camera, the radar scans), puts
them in the world frame (where labels live) and keeps the last few in a cache. A
background thread reads ahead, while the annotator looks at this sweep, the sweeps they are
likely to go to next (the controller names them: the next review-queue item's sweep and the
neighbours; see `LogFrames.read_ahead`), and can prepare more of each (the controller's
pictures) right after reading it. The cameras of a sweep are prepared side by side on a
small pool of threads (image decoding and projection release the GIL).

While the annotator is not switching sweeps, a second background thread (the idle reader)
reads the rest of the log into the cache too, the sweeps nearest the current one first,
outward in both directions, within a memory budget (`memory_budget`, bytes of the prepared
arrays and images). When the log does not fit, the sweeps nearest the current one are kept
and the farthest evicted. It yields at once to any real read: it starts a read only when
nothing has asked for a sweep, and no read ahead has run, for IDLE_AFTER_S, and a read
under way stops at its next step (as a read ahead the slider has passed does) as soon as
anything asks for a sweep. A slider dragged over sweeps already in memory then only hands
arrays to the window.

Everything here is world frame (ENU, z up) unless named otherwise; images are RGB uint8.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import cv2
import numpy as np

from avlabel.geometry.transforms import invert_rigid
from avlabel.io.logstore import DriveLog
from avlabel.structs import Calibration
from avlabel.sync.frames import LogSync, SyncedFrame
from avlabel.sync.settings import SyncConfig
from avlabel.viewer.drawing import camera_points_image

logger = logging.getLogger(__name__)

T = TypeVar("T")
CAMERA_THREADS = 2  # the cameras of a sweep are decoded and projected this many at a time
MEMORY_BUDGET = 2 << 30  # bytes of prepared sweeps kept (the idle reader fills up to this); ~6 MB a 120k-point sweep with 3 cameras
IDLE_AFTER_S = 0.5  # the idle reader starts a read once nothing asked for a sweep for this long


@dataclass(frozen=True, slots=True, eq=False)
class CameraView:
    """One camera's image tied to a sweep, scaled to the panel: image (h, w, 3) uint8 RGB,
    `scale` = panel pixels per image pixel; the ego pose at the capture time (4, 4);
    capture time minus the sweep's time in microseconds; points_image: the image with the
    sweep's LiDAR points blended in (prepared with the frame, see drawing.camera_points_image)."""

    name: str
    calibration: Calibration
    image: np.ndarray
    scale: float
    world_from_ego_camera: np.ndarray
    offset_us: int
    points_image: np.ndarray | None = None


@dataclass(frozen=True, slots=True, eq=False)
class FrameView:
    """One sweep ready to show.

    points_world (N, 3) float32 and points_ego (N, 3) float32 (ego frame at the sweep's
    time; the cameras project these), intensity (N,) float32, ground_z: the ego's height
    in the world (for height colouring); radar_world (D, 3) float32 and radar_velocity
    (D, 3) float32: ground-relative radial velocity of each detection as a world vector
    (m/s, along the line of sight, ego motion removed).
    """

    index: int
    timestamp_us: int
    world_from_ego: np.ndarray
    points_world: np.ndarray
    points_ego: np.ndarray
    intensity: np.ndarray
    ground_z: float
    cameras: tuple[CameraView, ...]
    radar_world: np.ndarray
    radar_velocity: np.ndarray

    @property
    def sensor_xy(self) -> np.ndarray:
        """(2,) world x, y of the ego origin at the sweep's time."""
        return self.world_from_ego[:2, 3].copy()


@dataclass(frozen=True, slots=True)
class MemoryUse:
    """How much of the log is in memory: sweeps read (of `total`), the bytes of their
    arrays and images, the budget; state: "filling" (the idle reader has more to read),
    "complete" (every sweep), "full" (the budget holds no more) or "off" (no idle reader)."""

    sweeps: int
    total: int
    bytes: int
    budget: int
    state: str

    def text(self) -> str:
        """For the status bar: "in memory 87/200 sweeps" (and why it stops short)."""
        line = f"in memory {self.sweeps}/{self.total} sweeps"
        if self.state == "full":
            line += f" (budget {self.budget / (1 << 30):.1f} GiB full)"
        return line


class LogFrames:
    """Sweeps of a log prepared for the viewer, by sweep index, with a cache.

    cameras: names to show (default: every camera, in name order); panel_width: width in
    pixels the camera images are scaled to (None keeps them as recorded); cache_size: the
    sweeps used last that are always kept (the current one and its reads ahead);
    memory_budget: bytes of prepared sweeps kept beyond those (real bytes of the arrays
    and images, see `view_bytes`), which the idle reader fills with the rest of the log
    when `prefetch` is on (0: only the `cache_size` sweeps used last, no idle reader).
    """

    def __init__(
        self,
        log: DriveLog,
        *,
        cameras: list[str] | None = None,
        panel_width: int | None = 480,
        cache_size: int = 6,
        sync_config: SyncConfig | None = None,
        prefetch: bool = True,
        memory_budget: int = MEMORY_BUDGET,
    ) -> None:
        self.log = log
        self.sync = LogSync(log, sync_config or SyncConfig())
        known = log.sensors("camera")
        unknown = sorted(set(cameras or ()) - set(known))
        if unknown:
            raise ValueError(f"{log.path}: no camera named {', '.join(unknown)} (the log has {', '.join(known) or 'none'})")
        self.cameras = list(cameras) if cameras is not None else known
        self.panel_width = panel_width
        self._cache: OrderedDict[int, FrameView | None] = OrderedDict()
        self._cache_size = max(cache_size, 2)
        self._lock = threading.Lock()  # guards the cache (the read-ahead thread fills it); h5py has its own lock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="avlabel-prefetch") if prefetch else None
        self._camera_pool = ThreadPoolExecutor(max_workers=CAMERA_THREADS, thread_name_prefix="avlabel-camera") if len(self.cameras) > 1 else None
        self._pending: dict[int, Future] = {}
        self._prepare: Callable[[FrameView], None] | None = None
        self._plan: frozenset[int] = frozenset()  # what the last read_ahead asked for
        self._reading: int | None = None  # the sweep the background thread is reading
        # memory: bytes of each cached sweep; the sweeps the idle reader added and nobody
        # has used since (never kept for recency, evicted farthest from `current` first)
        self._sizes: dict[int, int] = {}
        self._idle_filled: set[int] = set()
        self._budget = max(int(memory_budget), 0)
        self._current = 0
        # idle reader: anything that asks for a sweep bumps the generation (a read under way
        # stops at its next step) and restarts the quiet time
        self._generation = 0
        self._last_request = time.monotonic()
        self._failed: set[int] = set()  # sweeps the idle reader could not read (not tried again)
        self._idle_state = "filling"
        self._epoch = 0  # bumped by clear(): an idle read begun before it is not cached
        self._closed = False
        self._foreground = 0  # reads the window is waiting for (frame()), under _wake
        self._wake = threading.Condition()
        self._idle_thread: threading.Thread | None = None
        if prefetch:
            self._idle_thread = threading.Thread(target=self._idle_reader, name="avlabel-idle-read", daemon=True)
            self._idle_thread.start()

    def __len__(self) -> int:
        return len(self.sync)

    @property
    def timestamps_us(self) -> np.ndarray:
        """(S,) int64 log-clock time of every sweep."""
        return self.sync.sweep_us

    @property
    def reading_ahead(self) -> bool:
        """Whether a background thread reads sweeps ahead."""
        return self._executor is not None

    def frame(self, index: int) -> FrameView | None:
        """Sweep `index` ready to show; None when the ego poses do not cover it."""
        if not 0 <= index < len(self):
            raise IndexError(f"sweep {index} out of range (0..{len(self) - 1})")
        self._requested()
        pending = self._pending.pop(index, None)
        if pending is not None and not pending.cancel():
            pending.result()  # being read right now: wait for it rather than read it twice
        with self._lock:
            if index in self._cache:
                self._use(index)
                return self._cache[index]
        # read outside the lock: a read-ahead of another sweep in flight does not hold this one up
        with self._wake:
            self._foreground += 1  # the idle reader does not start while the window reads
        try:
            view = self._load(index)
        finally:
            with self._wake:
                self._foreground -= 1
        with self._lock:
            self._remember(index, view)
        self._requested()  # the quiet time counts from here
        return view

    @property
    def current(self) -> int:
        """The sweep the annotator is at: the idle reader reads outward from it, and the
        sweeps farthest from it are evicted first."""
        return self._current

    @current.setter
    def current(self, index: int) -> None:
        self._current = int(np.clip(index, 0, max(len(self) - 1, 0)))
        if self._idle_state == "full":
            self._idle_state = "filling"  # nearer sweeps may be missing now
        self._requested()

    @property
    def memory_budget(self) -> int:
        """Bytes of prepared sweeps kept beyond the `cache_size` used last (0: none, and no
        idle reading). Lowering it evicts at once."""
        return self._budget

    @memory_budget.setter
    def memory_budget(self, budget: int) -> None:
        with self._lock:
            self._budget = max(int(budget), 0)
            self._evict()
            self._idle_state = "filling"  # until the idle reader finds out
        self._requested()

    def memory(self) -> MemoryUse:
        """The sweeps in memory and their bytes, and what the idle reader is at."""
        with self._lock:
            sweeps, used = len(self._cache), sum(self._sizes.get(index, 0) for index in self._cache)
        state = self._idle_state if self._idle_thread is not None and self._budget > 0 else "off"
        if state != "off":
            state = "complete" if sweeps + len(self._failed) >= len(self) else "filling" if state == "complete" else state
        return MemoryUse(sweeps, len(self), used, self._budget, state)

    @property
    def idle(self) -> bool:
        """Whether nothing has asked for a sweep for IDLE_AFTER_S (the idle reader may read)."""
        return time.monotonic() - self._last_request >= IDLE_AFTER_S

    def touch(self) -> None:
        """The annotator did something (an edit, a key): the idle reader waits IDLE_AFTER_S
        more, and a read of its under way stops at its next step."""
        self._requested()

    def clear(self) -> None:
        """Forget every prepared sweep and drop the reads planned (a read under way finishes
        or stops; the idle reader starts again later, from the current sweep)."""
        self._requested()
        for future in list(self._pending.values()):
            if not future.cancel():
                future.exception()  # a running one: wait for it
        self._pending.clear()
        with self._lock:
            self._epoch += 1
            self._cache.clear()
            self._sizes.clear()
            self._idle_filled.clear()
        self._failed.clear()
        self._requested()  # the quiet time counts from here

    def ready(self, index: int) -> bool:
        """Whether showing sweep `index` now would not wait for a read: it is cached, or its
        read ahead failed (showing it reports the error)."""
        with self._lock:
            if index in self._cache:
                return True
        pending = self._pending.get(index)
        return pending is not None and pending.done() and not pending.cancelled() and pending.exception() is not None

    def planned(self, index: int) -> bool:
        """Whether a read of sweep `index` is planned or running in the background."""
        pending = self._pending.get(index)
        return pending is not None and not pending.done()

    @property
    def reading(self) -> int | None:
        """The sweep the background thread is reading right now, if any."""
        return self._reading

    def prefetch(self, index: int) -> None:
        """Start reading sweep `index` in the background (no-op when out of range; when
        cached, only the preparation given to `read_ahead` runs)."""
        if self._executor is None or not 0 <= index < len(self):
            return
        self._requested()
        if index in self._pending and not self._pending[index].done():
            return
        future = self._executor.submit(self._prefetch, index, self._prepare)
        future.add_done_callback(lambda _: self._read_ahead_done())
        self._pending[index] = future

    def read_ahead(self, indices: list[int], prepare: Callable[[FrameView], None] | None = None) -> None:
        """Read these sweeps in the background, most likely first, instead of whatever was
        planned before: reads not started yet are dropped and re-planned in this order, and a
        read under way of a sweep no longer asked for stops at its next step (once the sweep
        itself is read, or before its next camera) and its pictures are not drawn, so
        dragging the slider does not pile up reads of sweeps already passed. `prepare` runs
        on each of them once read (also when it was cached already), in the same thread:
        what the window will want of the sweep besides the sweep itself."""
        if self._executor is None:
            return
        self._requested()
        wanted = [index for index in dict.fromkeys(indices) if 0 <= index < len(self)][: self._cache_size - 2]
        for index, future in list(self._pending.items()):
            if future.done() or future.cancel():  # re-planned below, in the new order
                del self._pending[index]
        self._prepare = prepare
        self._plan = frozenset(wanted)
        for index in wanted:
            self.prefetch(index)

    def map_cameras(self, function: Callable[[CameraView], T], cameras: tuple[CameraView, ...] | list[CameraView]) -> list[T]:
        """`function` over cameras, side by side on the camera threads (when there are)."""
        if self._camera_pool is None or len(cameras) < 2:
            return [function(camera) for camera in cameras]
        return list(self._camera_pool.map(function, cameras))

    def close(self) -> None:
        """Stop the background threads (a read under way stops at its next step) and wait
        for them."""
        with self._wake:
            self._closed = True
            self._generation += 1
            self._wake.notify_all()
        if self._idle_thread is not None:
            self._idle_thread.join()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        if self._camera_pool is not None:
            self._camera_pool.shutdown(wait=True, cancel_futures=True)

    def _prefetch(self, index: int, prepare: Callable[[FrameView], None] | None) -> None:
        with self._lock:
            view = self._cache.get(index)
            cached = index in self._cache
            if cached:
                self._use(index)  # asked for: kept for recency, not evicted as idle reading
        if not cached:
            self._reading = index
            try:
                view = self._load(index, keep_going=lambda: index in self._plan)
            except _Dropped:
                return
            finally:
                self._reading = None
        if prepare is not None and view is not None and index in self._plan:  # not for a sweep the slider has passed meanwhile
            try:
                prepare(view)  # before the sweep counts as ready: the window then finds both
            except Exception:  # the window prepares it again when it shows the sweep, and reports there
                logger.debug("preparing sweep %d ahead failed", index, exc_info=True)
        if not cached:
            with self._lock:
                if index not in self._cache:
                    self._remember(index, view)

    def _remember(self, index: int, view: FrameView | None, *, idle: bool = False) -> None:
        """Cache a read sweep (under the lock): as used last, or (idle) as least recently
        used, not kept for recency; then evict what the budget does not hold."""
        self._cache[index] = view
        self._sizes[index] = view_bytes(view)
        if idle:
            self._cache.move_to_end(index, last=False)
            self._idle_filled.add(index)
        else:
            self._use(index)
        self._evict()

    def _use(self, index: int) -> None:
        """Sweep `index` was asked for (under the lock): it counts as used last."""
        self._cache.move_to_end(index)
        self._idle_filled.discard(index)

    def _kept_for_recency(self) -> set[int]:
        """The `cache_size` sweeps used last (not idle-filled): never evicted."""
        used = [index for index in reversed(self._cache) if index not in self._idle_filled]
        return set(used[: self._cache_size])

    def _evictable(self) -> list[int]:
        """Cached sweeps the budget may evict, farthest from the current sweep first."""
        kept = self._kept_for_recency()
        return sorted((index for index in self._cache if index not in kept), key=self._distance, reverse=True)

    def _distance(self, index: int) -> tuple[int, bool]:
        """How far sweep `index` lies from the current one; behind it counts a little farther
        (reviews go forward)."""
        return abs(index - self._current), index < self._current

    def _evict(self) -> None:
        """Drop the farthest sweeps (not the ones used last) until the cache fits the budget."""
        used = sum(self._sizes.get(index, 0) for index in self._cache)
        for index in self._evictable() if used > self._budget else ():
            if used <= self._budget:
                break
            used -= self._sizes.pop(index, 0)
            del self._cache[index]
            self._idle_filled.discard(index)
        for index in [index for index in self._sizes if index not in self._cache]:
            del self._sizes[index]

    # ------------------------------------------------------------------ idle reader

    def _requested(self) -> None:
        """Something asked for a sweep: the idle reader's read under way stops at its next
        step, and it waits IDLE_AFTER_S before the next one."""
        self._last_request = time.monotonic()
        self._generation += 1

    def _read_ahead_done(self) -> None:
        """A read ahead finished: the quiet time counts from here too (counted from the request
        alone, it ran out while the read ahead was still busy, and the idle reader started just
        as the annotator's next switch came, which then waited for its step)."""
        self._last_request = time.monotonic()
        with self._wake:
            self._wake.notify_all()

    def _next_idle_sweep(self) -> int | None:
        """The sweep nearest the current one not in memory yet, if the budget holds it
        (maybe by evicting a farther one); None when every sweep is read or the budget is
        full of nearer ones (sets _idle_state)."""
        with self._lock:
            count = len(self)
            target = None
            for distance in range(count):
                for index in (self._current + distance, self._current - distance):
                    if 0 <= index < count and index not in self._cache and index not in self._failed:
                        target = index
                        break
                if target is not None:
                    break
            if target is None:
                self._idle_state = "complete"
                return None
            sizes = [self._sizes[index] for index in self._cache if self._sizes.get(index)]
            estimate = max(sizes) if sizes else 0
            used = sum(self._sizes.get(index, 0) for index in self._cache)
            if used + estimate <= self._budget:
                self._idle_state = "filling"
                return target
            farthest = self._evictable()
            if farthest and self._distance(farthest[0]) > self._distance(target):
                self._idle_state = "filling"
                return target  # holds it once the farthest is evicted
            self._idle_state = "full"
            return None

    def _idle_reader(self) -> None:
        """The idle reader's loop: wait until nothing asked for a sweep for IDLE_AFTER_S, no
        read ahead is planned and the window is not reading one itself, read the nearest
        sweep not in memory, again."""
        while True:
            with self._wake:
                while True:
                    if self._closed:
                        return
                    quiet_left = self._last_request + IDLE_AFTER_S - time.monotonic()
                    if quiet_left > 0:
                        self._wake.wait(quiet_left)
                        continue
                    if self._foreground or any(not future.done() for future in list(self._pending.values())):
                        self._wake.wait(IDLE_AFTER_S)  # woken when a read ahead is done
                        continue
                    target = self._next_idle_sweep() if self._budget > 0 else None
                    if target is None:
                        self._wake.wait(IDLE_AFTER_S)  # until the current sweep or the budget changes
                        continue
                    generation = self._generation
                    break
            self._idle_read(target, generation)

    def _idle_read(self, index: int, generation: int) -> None:
        epoch = self._epoch
        try:
            view = self._load(index, keep_going=lambda: self._generation == generation and not self._closed)
        except _Dropped:
            return
        except Exception:  # an unreadable sweep: shown as an error when the annotator goes there
            logger.debug("reading sweep %d while idle failed", index, exc_info=True)
            self._failed.add(index)
            return
        with self._lock:
            if index not in self._cache and epoch == self._epoch:
                self._remember(index, view, idle=True)

    def _load(self, index: int, keep_going: Callable[[], bool] | None = None) -> FrameView | None:
        """Read and prepare sweep `index`; `keep_going` is asked between the steps, after the
        sweep and before each camera (a read ahead stops when it returns False: raises
        _Dropped)."""
        synced = self.sync.frame(index)
        if keep_going is not None and not keep_going():
            raise _Dropped(index)
        if synced is None:
            return None
        world_from_ego = synced.world_from_ego
        points_ego = np.ascontiguousarray(synced.points[:, :3])
        rotation = world_from_ego[:3, :3].astype(np.float32)
        points_world = points_ego @ rotation.T + world_from_ego[:3, 3].astype(np.float32)
        radar_world, radar_velocity = _radar(synced)
        names = [name for name in self.cameras if name in synced.cameras]

        def camera(name: str) -> CameraView:
            if keep_going is not None and not keep_going():  # asked again before each camera
                raise _Dropped(index)
            return self._camera(synced, name, points_ego)

        if self._camera_pool is not None:
            cameras = tuple(self._camera_pool.map(camera, names))
        else:
            cameras = tuple(camera(name) for name in names)
        return FrameView(
            index=synced.index,
            timestamp_us=synced.timestamp_us,
            world_from_ego=world_from_ego,
            points_world=points_world,
            points_ego=points_ego,
            intensity=np.ascontiguousarray(synced.points[:, 3]),
            ground_z=float(world_from_ego[2, 3]),
            cameras=cameras,
            radar_world=radar_world,
            radar_velocity=radar_velocity,
        )

    def _camera(self, synced: SyncedFrame, name: str, points_ego: np.ndarray) -> CameraView:
        match = synced.cameras[name]
        width = self.log.calibrations[name].image_size[0]
        if self.panel_width is not None and 2 * self.panel_width <= width:
            # JPEG decodes straight to half size (and PNG cheaply): less to decode and to resize
            data, _ = self.log.encoded_image(match.index, name)
            bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_COLOR_2)
            if bgr is None:
                raise ValueError(f"{self.log.path}: camera/{name}/images[{match.index}]: cannot decode the stored image")
            image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        else:
            image = self.log.camera_image(match.index, name).image
        scale = 1.0
        if self.panel_width is not None and image.shape[1] != self.panel_width:
            image = cv2.resize(image, (self.panel_width, max(int(round(image.shape[0] * self.panel_width / image.shape[1])), 1)), interpolation=cv2.INTER_AREA)
        scale = image.shape[1] / width
        view = CameraView(
            name=name,
            calibration=self.log.calibrations[name],
            image=image,
            scale=scale,
            world_from_ego_camera=self.sync.poses.at(match.timestamp_us),
            offset_us=match.offset_us,
        )
        return replace(view, points_image=camera_points_image(view, points_ego, synced.world_from_ego))


def view_bytes(view: FrameView | None) -> int:
    """Bytes a prepared sweep holds: its arrays and images, each memory block once (an
    array that is a view of another counts the block it views)."""
    if view is None:
        return 0
    arrays = [view.world_from_ego, view.points_world, view.points_ego, view.intensity, view.radar_world, view.radar_velocity]
    for camera in view.cameras:
        arrays += [camera.image, camera.world_from_ego_camera]
        if camera.points_image is not None:
            arrays.append(camera.points_image)
    blocks: dict[int, int] = {}
    for array in arrays:
        while isinstance(array.base, np.ndarray):
            array = array.base
        blocks[id(array)] = array.nbytes
    return sum(blocks.values())


class _Dropped(Exception):
    """A read ahead stopped because the sweep is no longer asked for."""


def _radar(synced: SyncedFrame) -> tuple[np.ndarray, np.ndarray]:
    """All radar detections of a sweep in the world frame, with ground-relative radial
    velocity vectors: the measured radial velocity plus the ego's own along each detection's
    line of sight, which runs from the radar where it was at scan time (RadarMatch), not from
    the ego origin."""
    positions, velocities = [], []
    ego_from_world = invert_rigid(synced.world_from_ego)
    ego_velocity_ego = ego_from_world[:3, :3] @ synced.ego_velocity
    for scans in synced.radar.values():
        for scan in scans:
            if not len(scan.detections_ego):
                continue
            line_of_sight = scan.line_of_sight
            radial = scan.detections_ego[:, 3].astype(np.float64) + line_of_sight @ ego_velocity_ego
            positions.append(scan.detections_ego[:, :3].astype(np.float64))
            velocities.append(line_of_sight * radial[:, None])
    if not positions:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32)
    rotation, translation = synced.world_from_ego[:3, :3], synced.world_from_ego[:3, 3]
    world = np.vstack(positions) @ rotation.T + translation
    return world.astype(np.float32), (np.vstack(velocities) @ rotation.T).astype(np.float32)
