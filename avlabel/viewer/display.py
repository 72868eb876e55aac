"""A screen for the viewer where there is none (CI, servers): Xvfb, and screen capture.

    with virtual_display():          # sets DISPLAY while Xvfb runs, unless one is set
        run the viewer ...

Open3D renders its GUI there with Mesa's software Vulkan (llvmpipe); `capture_screen`
reads pixels back from the X server (libX11 through ctypes, no extra package).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator

import numpy as np

logger = logging.getLogger(__name__)

# Larger than the viewer window: a window filling the whole Xvfb screen comes out black
# with software Vulkan (seen with Mesa 22.3 llvmpipe).
SCREEN = "1920x1200x24"


@contextlib.contextmanager
def virtual_display(*, screen: str = SCREEN, force: bool = False) -> Iterator[str]:
    """Start Xvfb on a free display and point DISPLAY at it for the duration; when DISPLAY
    is already set (a desktop, or a caller's Xvfb) use that instead, unless `force`.

    Xvfb runs with -terminate: it exits when its last client disconnects. This function
    holds a connection for the whole block; a client still connected when the block ends
    (Open3D keeps its connection until its process exits) keeps the server alive until
    then, because killing the server under it would make Xlib end that process with
    "XIO: fatal IO error".
    """
    if os.environ.get("DISPLAY") and not force:
        yield os.environ["DISPLAY"]
        return
    executable = shutil.which("Xvfb")
    if executable is None:
        raise RuntimeError("Xvfb is not installed: apt-get install xvfb (make install does), or set DISPLAY to a real screen")
    with tempfile.TemporaryFile() as display_number:
        # -displayfd: Xvfb picks a free display and writes its number once it is ready.
        process = subprocess.Popen(
            # -s 0: no screen saver (it blanks an idle Xvfb after 10 minutes)
            [executable, "-displayfd", str(display_number.fileno()), "-screen", "0", screen, "-nolisten", "tcp", "-s", "0", "-terminate"],
            pass_fds=(display_number.fileno(),), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            display = _wait_for_display(display_number, process)
        except BaseException:
            process.kill()
            process.wait()
            raise
    # A connection of our own keeps the server up for the whole block, however many
    # clients (viewer processes) come and go in it.
    x11 = _x11()
    keeper = x11.XOpenDisplay(display.encode())
    previous = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = display
    logger.info("Xvfb %s on %s (pid %d)", screen, display, process.pid)
    try:
        yield display
    finally:
        if previous is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = previous
        # Letting go: if nobody else is connected, the server ends now.
        if keeper:
            x11.XCloseDisplay(keeper)
        else:
            _touch(display)
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            logger.info("Xvfb %s stays up until its remaining client (this process's Open3D) disconnects", display)


def _touch(display: str) -> None:
    x11 = _x11()
    connection = x11.XOpenDisplay(display.encode())
    if connection:
        x11.XCloseDisplay(connection)


def _x11() -> ctypes.CDLL:
    library = ctypes.util.find_library("X11")
    if library is None:
        raise RuntimeError("libX11 not found: apt-get install libx11-6")
    x11 = ctypes.cdll.LoadLibrary(library)
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    return x11


def _wait_for_display(number_file, process: subprocess.Popen, timeout_s: float = 20.0) -> str:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        number_file.seek(0)
        text = number_file.read().decode().strip()
        if text:
            return f":{text}"
        if process.poll() is not None:
            raise RuntimeError(f"Xvfb exited with code {process.returncode} before it was ready")
        time.sleep(0.05)
    raise RuntimeError(f"Xvfb did not report a display within {timeout_s:g} s")


class _XImage(ctypes.Structure):
    _fields_ = [
        ("width", ctypes.c_int), ("height", ctypes.c_int), ("xoffset", ctypes.c_int), ("format", ctypes.c_int),
        ("data", ctypes.c_void_p), ("byte_order", ctypes.c_int), ("bitmap_unit", ctypes.c_int),
        ("bitmap_bit_order", ctypes.c_int), ("bitmap_pad", ctypes.c_int), ("depth", ctypes.c_int),
        ("bytes_per_line", ctypes.c_int), ("bits_per_pixel", ctypes.c_int),
    ]


def stale_scene_pixels(viewer, wait) -> tuple[int, np.ndarray]:
    """How many pixels of a viewer's 3D view change when it is made to redraw (summed RGB
    difference over 30): non-zero when the window showed an older picture than its scene
    holds; and the redrawn picture (H, W, 3). `viewer` is an avlabel.viewer.app.ViewerApp;
    `wait()` runs its event loop until the redraw is on screen."""
    frame, scene = viewer.window.os_frame, viewer.scene.frame
    box = (frame.x + scene.x, frame.y + scene.y, scene.width, scene.height)
    shown = capture_screen(*box)
    viewer.scene.force_redraw()
    viewer.window.post_redraw()
    wait()
    redrawn = capture_screen(*box)
    return int((np.abs(shown.astype(int) - redrawn).sum(axis=2) > 30).sum()), redrawn


def capture_screen(x: int, y: int, width: int, height: int) -> np.ndarray:
    """Pixels of the X screen (DISPLAY) in a rectangle: (height, width, 3) uint8 RGB.
    Expects a 24-bit TrueColor screen (as Xvfb -screen 0 WxHx24 gives)."""
    x11 = _x11()
    x11.XDefaultRootWindow.restype = ctypes.c_ulong
    x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    x11.XGetImage.restype = ctypes.POINTER(_XImage)
    x11.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint, ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
    x11.XDestroyImage.argtypes = [ctypes.POINTER(_XImage)]
    x11.XForceScreenSaver.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x11.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    display = x11.XOpenDisplay(None)
    if not display:
        raise RuntimeError(f"cannot open X display {os.environ.get('DISPLAY')!r}")
    try:
        x11.XForceScreenSaver(display, 0)  # ScreenSaverReset: an idle screen may be blanked
        x11.XSync(display, 0)
        image_pointer = x11.XGetImage(display, x11.XDefaultRootWindow(display), int(x), int(y), int(width), int(height), 0xFFFFFFFF, 2)  # ZPixmap
        if not image_pointer:
            raise RuntimeError(f"XGetImage failed for {width}x{height}+{x}+{y} (outside the screen?)")
        try:
            image = image_pointer.contents
            if image.bits_per_pixel != 32:
                raise RuntimeError(f"expected a 24-bit screen stored as 32 bits per pixel, got {image.bits_per_pixel}")
            raw = ctypes.string_at(image.data, image.bytes_per_line * image.height)
            pixels = np.frombuffer(raw, np.uint8).reshape(image.height, image.bytes_per_line // 4, 4)[:, : image.width]
            return np.ascontiguousarray(pixels[:, :, 2::-1])  # BGRX -> RGB
        finally:
            x11.XDestroyImage(image_pointer)
    finally:
        x11.XCloseDisplay(display)


# X keysyms of the key names the viewer binds (see avlabel.viewer.controller.BINDINGS).
_KEYSYMS = {
    "PERIOD": "period", "COMMA": "comma", "PAGE_DOWN": "Next", "PAGE_UP": "Prior", "HOME": "Home", "END": "End",
    "SPACE": "space", "TAB": "Tab", "ESCAPE": "Escape", "DELETE": "Delete", "ENTER": "Return", "BACKSPACE": "BackSpace",
    "LEFT_BRACKET": "bracketleft", "RIGHT_BRACKET": "bracketright", "ONE": "1", "TWO": "2", "THREE": "3", "FOUR": "4", "FIVE": "5", "shift": "Shift_L", "ctrl": "Control_L",
}


@contextlib.contextmanager
def _xtest() -> Iterator[tuple[ctypes.CDLL, ctypes.CDLL, int]]:
    """(xtest, x11, display): the XTEST and Xlib libraries with the argument types the fake
    key, button and motion events need, and an open connection, closed afterwards."""
    library = ctypes.util.find_library("Xtst")
    if library is None:
        raise RuntimeError("libXtst not found: apt-get install libxtst6")
    xtest = ctypes.cdll.LoadLibrary(library)
    x11 = _x11()
    x11.XStringToKeysym.restype = ctypes.c_ulong
    x11.XStringToKeysym.argtypes = [ctypes.c_char_p]
    x11.XKeysymToKeycode.restype = ctypes.c_ubyte
    x11.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    xtest.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
    xtest.XTestFakeButtonEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
    xtest.XTestFakeMotionEvent.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_ulong]
    display = x11.XOpenDisplay(None)
    if not display:
        raise RuntimeError(f"cannot open X display {os.environ.get('DISPLAY')!r}")
    try:
        yield xtest, x11, display
    finally:
        x11.XCloseDisplay(display)


def send_keys(keys: list[str], *, x: int, y: int) -> None:
    """Type keys on the X display as a person would (XTEST), the pointer parked at (x, y)
    so the window there has the keyboard. Keys as in the viewer's bindings: "W",
    "shift+W", "ctrl+Z", "PERIOD"."""
    with _xtest() as (xtest, x11, display):
        xtest.XTestFakeMotionEvent(display, -1, int(x), int(y), 0)
        for key in keys:
            names = key.split("+")
            codes = []
            for name in names:
                symbol = _KEYSYMS.get(name, name.lower() if len(name) == 1 else name)
                code = x11.XKeysymToKeycode(display, x11.XStringToKeysym(symbol.encode()))
                if code == 0:
                    raise ValueError(f"key {name!r}: no X keycode for keysym {symbol!r}")
                codes.append(code)
            # 20 ms apart: the same key pressed again at the same server time looks like
            # auto-repeat to GLFW and is dropped
            for code in codes:
                xtest.XTestFakeKeyEvent(display, code, 1, 20)
            for code in reversed(codes):
                xtest.XTestFakeKeyEvent(display, code, 0, 20)
            x11.XFlush(display)


def send_click(x: int, y: int, *, modifiers: tuple[str, ...] = ()) -> None:
    """Click the left mouse button at screen pixel (x, y) (XTEST), holding `modifiers`
    ("ctrl", "shift") down meanwhile."""
    with _xtest() as (xtest, x11, display):
        codes = [x11.XKeysymToKeycode(display, x11.XStringToKeysym(_KEYSYMS[name].encode())) for name in modifiers]
        xtest.XTestFakeMotionEvent(display, -1, int(x), int(y), 0)
        for code in codes:
            xtest.XTestFakeKeyEvent(display, code, 1, 20)
        xtest.XTestFakeButtonEvent(display, 1, 1, 20)
        xtest.XTestFakeButtonEvent(display, 1, 0, 20)
        for code in reversed(codes):
            xtest.XTestFakeKeyEvent(display, code, 0, 20)
        x11.XFlush(display)


def send_drag(
    start: tuple[int, int], end: tuple[int, int], *, modifiers: tuple[str, ...] = (), steps: int = 10, between: Callable[[str], None] | None = None
) -> None:
    """Drag with the left mouse button from screen pixel `start` to `end` (XTEST): press,
    move there in `steps` motions, let go; `modifiers` ("ctrl", "shift") held throughout.
    `between(kind)` runs after each event is sent, kind "press", "move" or "release" (the
    caller turns its event loop there until the window has handled it: a window that reads
    the pointer's position when it handles a press must see the press before the pointer
    moves on)."""
    with _xtest() as (xtest, x11, display):
        codes = [x11.XKeysymToKeycode(display, x11.XStringToKeysym(_KEYSYMS[name].encode())) for name in modifiers]

        def sent(kind: str) -> None:
            x11.XFlush(display)
            if between is not None:
                between(kind)

        xtest.XTestFakeMotionEvent(display, -1, int(start[0]), int(start[1]), 0)
        for code in codes:
            xtest.XTestFakeKeyEvent(display, code, 1, 0)
        sent("move")
        xtest.XTestFakeButtonEvent(display, 1, 1, 0)
        sent("press")
        for step in range(1, steps + 1):
            x = start[0] + (end[0] - start[0]) * step / steps
            y = start[1] + (end[1] - start[1]) * step / steps
            xtest.XTestFakeMotionEvent(display, -1, int(round(x)), int(round(y)), 0)
            sent("move")
        xtest.XTestFakeButtonEvent(display, 1, 0, 0)
        for code in reversed(codes):
            xtest.XTestFakeKeyEvent(display, code, 0, 0)
        sent("release")
