#!/usr/bin/env python3
"""The README's screenshots, captured from the real binary (issue 28).

usage: scripts/screenshots.py [--leaktop PATH] [--out DIR]   (defaults: target/debug/leaktop,
       docs/screenshots)

Runs `leaktop demo` under a tmux server of its own (110x32), waits until the view
shows the demo's leak, and captures the pane with its colours (`capture-pane -e`);
then opens the picker beside the running demo, filters it to the demo's family and
shows it as a tree. Each capture is written as an SVG of the terminal's cells
(view.svg, picker.svg): text, not pixels, so a diff shows what changed. Nothing is
drawn by hand; rerun it after a change to the view. Everything it starts is ended when
it exits. Look at one as a PNG with `rsvg-convert docs/screenshots/view.svg -o /tmp/v.png`.
"""

import argparse
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata

COLS, ROWS = 110, 32
CELL_W, CELL_H, FONT = 8.43, 17, 14
FG, BG = "#d0d0d0", "#1c1c1c"
BASIC = [
    "#000000", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc", "#11a8cd", "#e5e5e5",
    "#666666", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#ffffff",
]


def xterm256(n):
    if n < 16:
        return BASIC[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return "#%02x%02x%02x" % (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    level = 8 + (n - 232) * 10
    return "#%02x%02x%02x" % (level, level, level)


class Style:
    def __init__(self):
        self.reset()

    def reset(self):
        self.fg = self.bg = None
        self.bold = self.reverse = self.underline = self.dim = self.italic = False

    def key(self):
        return (self.fg, self.bg, self.bold, self.reverse, self.underline, self.dim, self.italic)

    def apply(self, params):
        ps = [int(p) if p else 0 for p in params.split(";")] if params else [0]
        i = 0
        while i < len(ps):
            p = ps[i]
            if p == 0:
                self.reset()
            elif p == 1:
                self.bold = True
            elif p == 2:
                self.dim = True
            elif p == 3:
                self.italic = True
            elif p == 4:
                self.underline = True
            elif p == 7:
                self.reverse = True
            elif p == 22:
                self.bold = self.dim = False
            elif p == 23:
                self.italic = False
            elif p == 24:
                self.underline = False
            elif p == 27:
                self.reverse = False
            elif 30 <= p <= 37:
                self.fg = BASIC[p - 30]
            elif 90 <= p <= 97:
                self.fg = BASIC[p - 90 + 8]
            elif 40 <= p <= 47:
                self.bg = BASIC[p - 40]
            elif 100 <= p <= 107:
                self.bg = BASIC[p - 100 + 8]
            elif p == 39:
                self.fg = None
            elif p == 49:
                self.bg = None
            elif p in (38, 48) and i + 1 < len(ps):
                if ps[i + 1] == 5 and i + 2 < len(ps):
                    colour = xterm256(ps[i + 2])
                    i += 2
                elif ps[i + 1] == 2 and i + 4 < len(ps):
                    colour = "#%02x%02x%02x" % tuple(ps[i + 2 : i + 5])
                    i += 4
                else:
                    colour = None
                if p == 38:
                    self.fg = colour
                else:
                    self.bg = colour
            i += 1


def cells(line):
    """One captured line as (column, width, char, style key) cells."""
    style, col, out = Style(), 0, []
    for m in re.finditer(r"\x1b\[([0-9;]*)m|\x1b[^a-zA-Z]*[a-zA-Z]|(.)", line):
        if m.group(2) is None:
            if m.group(0).endswith("m"):
                style.apply(m.group(1))
            continue
        ch = m.group(2)
        if unicodedata.combining(ch) and out:
            c, w, prev, key = out[-1]
            out[-1] = (c, w, prev + ch, key)
            continue
        w = 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        out.append((col, w, ch, style.key()))
        col += w
    return out


def svg(capture, title):
    lines = capture.split("\n")[:ROWS]
    w, h = COLS * CELL_W, ROWS * CELL_H
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h + 8:.0f}" '
        f'viewBox="0 0 {w:.0f} {h + 8:.0f}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" '
        f'font-size="{FONT}">',
        f"<title>{html.escape(title)}</title>",
        f'<rect width="100%" height="100%" fill="{BG}"/>',
    ]
    for row, line in enumerate(lines):
        y = row * CELL_H + 4
        runs = []
        for col, width, ch, key in cells(line):
            if runs and runs[-1][3] == key and runs[-1][0] + runs[-1][1] == col:
                runs[-1][1] += width
                runs[-1][2] += ch
            else:
                runs.append([col, width, ch, key])
        for col, width, text, (fg, bg, bold, reverse, underline, dim, italic) in runs:
            fg, bg = fg or FG, bg
            if reverse:
                fg, bg = bg or BG, fg
            x = col * CELL_W
            if bg:
                out.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{width * CELL_W:.1f}" height="{CELL_H}" fill="{bg}"/>'
                )
            if not text.strip():
                continue
            attrs = [f'x="{x:.1f}"', f'y="{y + CELL_H - 4}"', f'fill="{fg}"',
                     f'textLength="{width * CELL_W:.1f}"', 'lengthAdjust="spacingAndGlyphs"']
            if bold:
                attrs.append('font-weight="bold"')
            if dim:
                attrs.append('opacity="0.6"')
            if italic:
                attrs.append('font-style="italic"')
            if underline:
                attrs.append('text-decoration="underline"')
            out.append(f'<text xml:space="preserve" {" ".join(attrs)}>{html.escape(text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


class Tmux:
    def __init__(self):
        self.socket = f"leaktop-shots-{os.getpid()}"

    def __call__(self, *args, check=True):
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            check=check, capture_output=True, text=True,
        ).stdout

    def capture(self, target, colours=False):
        return self("capture-pane", "-p", *(["-e"] if colours else []), "-t", target)

    def wait_for(self, target, pattern, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if re.search(pattern, self.capture(target)):
                return
            time.sleep(0.2)
        sys.exit(f"screenshots: {pattern!r} never showed in {target}:\n{self.capture(target)}")

    def kill(self):
        self("kill-server", check=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--leaktop", default="target/debug/leaktop")
    ap.add_argument("--out", default="docs/screenshots")
    a = ap.parse_args()
    leaktop = os.path.abspath(a.leaktop)
    if not os.access(leaktop, os.X_OK):
        sys.exit(f"screenshots: {a.leaktop}: not an executable (build it: cargo build)")
    os.makedirs(a.out, exist_ok=True)
    # On PATH as `leaktop`, so the captures show the command a user types, not this
    # checkout's path.
    bindir = tempfile.mkdtemp(prefix="leaktop-shots-")
    os.symlink(leaktop, os.path.join(bindir, "leaktop"))
    env = ["env", f"PATH={bindir}:{os.environ.get('PATH', '')}", "leaktop"]
    tmux = Tmux()
    try:
        size = ["-x", str(COLS), "-y", str(ROWS)]
        tmux("new-session", "-d", "-s", "demo", *size, *env, "demo")
        # The demo's server orphans its two workers; the view marks them LEAK.
        tmux.wait_for("demo", r"LEAK +\d+.*demo-worker.*\n(.*\n)* LEAK +\d+.*demo-worker")
        tmux.wait_for("demo", r"tick (2[5-9]|[3-9]\d)")
        view = tmux.capture("demo", colours=True)
        tmux("new-session", "-d", "-s", "picker", *size, *env)
        tmux.wait_for("picker", r"PID")
        tmux("send-keys", "-t", "picker", "/", "demo-", "Enter")
        tmux("send-keys", "-t", "picker", "t")
        tmux.wait_for("picker", r"demo-worker")
        time.sleep(1)
        picker = tmux.capture("picker", colours=True)
    finally:
        tmux.kill()
        shutil.rmtree(bindir, ignore_errors=True)
    for name, capture, title in [
        ("view.svg", view, "leaktop demo: a server whose two workers leaked"),
        ("picker.svg", picker, "leaktop's picker, filtered to the demo's family, as a tree"),
    ]:
        path = os.path.join(a.out, name)
        with open(path, "w") as f:
            f.write(svg(capture, title))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
