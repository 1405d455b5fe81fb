"""Light and dark themes: Qt's Fusion style with a palette of each (``system`` follows the
desktop's colour scheme), check boxes with a border that shows on either, and pyqtgraph plots
coloured from the palette (``style_plot``), restyled at every switch."""

from __future__ import annotations

import sys
from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPainter, QPalette, QPen
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle, QStyleFactory, QStyleOption

THEMES = ("system", "light", "dark")

_DARK = {
    QPalette.ColorRole.Window: "#202225", QPalette.ColorRole.WindowText: "#e8e8e8",
    QPalette.ColorRole.Base: "#17181a", QPalette.ColorRole.AlternateBase: "#26282c",
    QPalette.ColorRole.ToolTipBase: "#2c2f33", QPalette.ColorRole.ToolTipText: "#e8e8e8",
    QPalette.ColorRole.Text: "#e8e8e8", QPalette.ColorRole.Button: "#2c2f33",
    QPalette.ColorRole.ButtonText: "#e8e8e8", QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Highlight: "#3d7bd9", QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#6ea8ff", QPalette.ColorRole.PlaceholderText: "#8a8d93",
    # the bevel roles: left at Qt's light defaults they drew light frames and hovers
    QPalette.ColorRole.Light: "#4a4d53", QPalette.ColorRole.Midlight: "#383b40",
    QPalette.ColorRole.Mid: "#2a2c30", QPalette.ColorRole.Dark: "#111214",
    QPalette.ColorRole.Shadow: "#000000",
}
_LIGHT = {
    QPalette.ColorRole.Window: "#f3f3f4", QPalette.ColorRole.WindowText: "#1d1d1f",
    QPalette.ColorRole.Base: "#ffffff", QPalette.ColorRole.AlternateBase: "#f0f0f2",
    QPalette.ColorRole.ToolTipBase: "#ffffe8", QPalette.ColorRole.ToolTipText: "#1d1d1f",
    QPalette.ColorRole.Text: "#1d1d1f", QPalette.ColorRole.Button: "#e9e9eb",
    QPalette.ColorRole.ButtonText: "#1d1d1f", QPalette.ColorRole.BrightText: "#c62828",
    QPalette.ColorRole.Highlight: "#2f6fd0", QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#1f5fbf", QPalette.ColorRole.PlaceholderText: "#8a8d93",
    QPalette.ColorRole.Light: "#ffffff", QPalette.ColorRole.Midlight: "#e3e3e6",
    QPalette.ColorRole.Mid: "#b8b8bd", QPalette.ColorRole.Dark: "#9a9a9f",
    QPalette.ColorRole.Shadow: "#5a5a5e",
}
_INDICATORS = (QStyle.PrimitiveElement.PE_IndicatorCheckBox,
               QStyle.PrimitiveElement.PE_IndicatorItemViewItemCheck,
               QStyle.PrimitiveElement.PE_IndicatorRadioButton)


class StudioStyle(QProxyStyle):
    """Fusion, with a visible border on check boxes and radio buttons: Fusion outlines them in
    the window colour made darker, which on a dark palette is the colour of the box itself
    (unticked boxes were invisible)."""

    def __init__(self) -> None:
        super().__init__(QStyleFactory.create("Fusion"))

    def drawPrimitive(self, element: QStyle.PrimitiveElement, option: QStyleOption,  # noqa: N802
                      painter: QPainter, widget: Any = None) -> None:
        super().drawPrimitive(element, option, painter, widget)
        if element not in _INDICATORS or not is_dark(option.palette):
            return
        border = QColor(option.palette.color(QPalette.ColorRole.Text))
        enabled = bool(option.state & QStyle.StateFlag.State_Enabled)
        border.setAlpha(150 if enabled else 70)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(border, 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        rect = QRectF(option.rect).adjusted(0.5, 0.5, -1.5, -1.5)
        if element == QStyle.PrimitiveElement.PE_IndicatorRadioButton:
            painter.drawEllipse(rect)
        else:
            painter.drawRoundedRect(rect, 2, 2)
        painter.restore()


def is_dark(palette: QPalette) -> bool:
    """Whether ``palette`` is a dark one (light text on a dark window)."""
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def resolved_theme(theme: str) -> str:
    """``light`` or ``dark`` (``system`` asks the desktop)."""
    if theme in ("light", "dark"):
        return theme
    hints = QGuiApplication.styleHints()
    return "dark" if hints.colorScheme() == Qt.ColorScheme.Dark else "light"


def apply_theme(app: QApplication, theme: str) -> str:
    """Apply ``theme`` to the whole application; returns the one applied."""
    name = resolved_theme(theme)
    if not isinstance(app.style(), StudioStyle):
        app.setStyle(StudioStyle())
    palette = QPalette()
    for role, colour in (_DARK if name == "dark" else _LIGHT).items():
        palette.setColor(role, QColor(colour))
    disabled = QColor("#6b6e73" if name == "dark" else "#a0a0a4")
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    app.setProperty("studio_theme", name)  # first: palette-change handlers read it
    app.setPalette(palette)
    _repolish_styled(app)
    restyle_plots(app)
    return name


def _repolish_styled(app: QApplication) -> None:
    """Widgets a style sheet ever styled ("font-weight: bold", or a sheet set and cleared
    again, as the saved indicator does) keep the colours of the palette they were polished
    with after the application's palette changes (seen on the Annotate page's file name and
    status labels: dark text on the dark theme). Every widget that did not choose a palette of
    its own is given back the application's, and the sheets are resolved again."""
    for widget in app.allWidgets():
        if not widget.testAttribute(Qt.WidgetAttribute.WA_SetPalette):
            widget.setPalette(QPalette())  # nothing set: all inherited again
        sheet = widget.styleSheet()
        if sheet:
            widget.setStyleSheet(sheet)


_PLOT_BACKGROUND = "studio_plot_background"


def style_plot(plot: Any, *, background: bool = True) -> None:
    """Colour pyqtgraph ``plot`` (a PlotWidget) from the application's palette: the Base
    colour behind it (``background=False``: transparent, the window shows through), axes,
    tick labels, axis labels, title and legend in the text colour. Plots styled here follow
    every later theme switch."""
    import pyqtgraph as pg

    plot.setProperty(_PLOT_BACKGROUND, background)
    palette = QApplication.palette()
    text = palette.color(QPalette.ColorRole.Text if background
                         else QPalette.ColorRole.WindowText)
    line = QColor(text)
    line.setAlpha(120)
    plot.setBackground(palette.color(QPalette.ColorRole.Base) if background else None)
    item = plot.getPlotItem()
    for side in ("left", "bottom", "right", "top"):
        axis = item.getAxis(side)
        axis.setPen(pg.mkPen(line))
        axis.setTextPen(pg.mkPen(text))  # after setPen: the axis label takes this colour
    if item.legend is not None:
        item.legend.setLabelTextColor(text)  # for entries added from now on
        for _sample, label in item.legend.items:  # and the ones shown: drawn again
            label.setText(label.text, color=text.name())
    title = item.titleLabel
    if title.text:
        title.setText(title.text, color=text.name())


def restyle_plots(app: QApplication) -> None:
    """Style every plot that ``style_plot`` styled before, with the current palette."""
    if "pyqtgraph" not in sys.modules:  # no plot can exist yet
        return
    import pyqtgraph as pg

    for widget in app.allWidgets():
        if isinstance(widget, pg.PlotWidget):
            background = widget.property(_PLOT_BACKGROUND)
            if background is not None:
                style_plot(widget, background=bool(background))


_BANNERS = {
    "light": {"info": ("#1f5f3f", "#e6f4ea"), "warning": ("#7a5200", "#fff4d6"),
              "error": ("#8a1c00", "#fde7e1")},
    "dark": {"info": ("#a8dcb8", "#1d3a2a"), "warning": ("#f2d38a", "#3d3218"),
             "error": ("#ffb4a2", "#4a2019")},
}


def banner_sheet(level: str) -> str:
    """The style sheet of a message banner ("info", "warning" or "error") in the theme now
    applied: dark text on a pale ground in the light theme, light text on a deep one in the
    dark theme."""
    app = QApplication.instance()
    name = "dark" if app is not None and app.property("studio_theme") == "dark" else "light"
    foreground, background = _BANNERS[name].get(level, _BANNERS[name]["info"])
    return f"color: {foreground}; background: {background}; border-radius: 4px; padding: 6px;"
