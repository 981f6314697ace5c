"""The Evaluate area: test accuracy, per-class precision, recall and F1, a confusion-matrix heatmap;
clicking a cell shows those test images with their true and predicted labels."""

from __future__ import annotations

import html

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QListView, QListWidget, QListWidgetItem,
                               QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

MAX_IMAGES = 200


class ConfusionMatrixView(QWidget):
    """A heatmap of the confusion matrix with counts; rows are true classes, columns predictions."""

    cell_clicked = Signal(int, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.matrix: list[list[int]] = []
        self.names: list[str] = []
        self.selected: tuple[int, int] | None = None
        self.setMinimumSize(320, 320)
        self.setMouseTracking(True)
        self.setToolTip("Rows: true class. Columns: predicted class. Click a cell to see its images.")

    def set_matrix(self, matrix: list[list[int]], names: list[str]) -> None:
        self.matrix, self.names, self.selected = matrix, names, None
        self.update()

    def _geometry(self) -> tuple[int, int, int]:
        n = max(len(self.matrix), 1)
        margin = 36
        cell = max(8, (min(self.width(), self.height()) - margin - 8) // n)
        return margin, cell, n

    def cell_rect(self, true: int, pred: int) -> QRect:
        margin, cell, _ = self._geometry()
        return QRect(margin + pred * cell, margin + true * cell, cell, cell)

    def paintEvent(self, event) -> None:
        if not self.matrix:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        margin, cell, n = self._geometry()
        off_max = max([v for t, row in enumerate(self.matrix) for p, v in enumerate(row) if t != p] or [1]) or 1
        font = QFont(self.font())
        font.setPixelSize(max(8, int(cell * 0.3)))
        painter.setFont(font)
        for t, row in enumerate(self.matrix):
            total = sum(row) or 1
            for p, value in enumerate(row):
                rect = self.cell_rect(t, p)
                if t == p:
                    share = value / total
                    colour = QColor.fromRgbF(1 - 0.75 * share, 1 - 0.35 * share, 1 - 0.75 * share)
                else:
                    share = value / off_max
                    colour = QColor.fromRgbF(1, 1 - 0.7 * share, 1 - 0.7 * share)
                painter.fillRect(rect, colour)
                painter.setPen(QColor("#e5e7eb"))
                painter.drawRect(rect)
                if value:
                    painter.setPen(QColor("#111827"))
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(value))
        if self.selected:
            painter.setPen(QColor("#1d4ed8"))
            painter.drawRect(self.cell_rect(*self.selected).adjusted(1, 1, -1, -1))
        painter.setPen(QColor("#374151"))
        for i, name in enumerate(self.names[:n]):
            painter.drawText(QRect(margin + i * cell, margin - 18, cell, 16), Qt.AlignmentFlag.AlignCenter, name[:4])
            painter.drawText(QRect(0, margin + i * cell, margin - 4, cell),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name[:4])
        painter.drawText(QRect(margin, 0, n * cell, 16), Qt.AlignmentFlag.AlignCenter, "predicted →")
        painter.end()

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        margin, cell, n = self._geometry()
        col, row = int((x - margin) // cell), int((y - margin) // cell)
        if x >= margin and y >= margin and 0 <= row < n and 0 <= col < n:
            return row, col
        return None

    def mousePressEvent(self, event) -> None:
        hit = self.cell_at(event.position().x(), event.position().y())
        if hit is not None:
            self.selected = hit
            self.update()
            self.cell_clicked.emit(*hit)


def digit_icon(image, scale: int = 2) -> QIcon:
    """A uint8 28x28 tensor as an icon (white ink on black, as MNIST stores it)."""
    data = bytes(image.contiguous().numpy().tobytes())
    h, w = image.shape
    qimage = QImage(data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return QIcon(QPixmap.fromImage(qimage).scaled(w * scale, h * scale, Qt.AspectRatioMode.KeepAspectRatio,
                                                  Qt.TransformationMode.SmoothTransformation))


class EvaluateArea(QWidget):
    """A run's test evaluation (a core ``RunRecord``): accuracy, per-class table, confusion matrix
    and the images behind each cell."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.run = None  # the RunRecord shown
        self.images = None  # uint8 test images the evaluation was made on
        self._shown: tuple[list[int], str] | None = None  # the gallery's indices and caption
        self.title = QLabel("Train a network (Train area) or pick a run there to evaluate it here.")
        self.title.setWordWrap(True)
        self.accuracy = QLabel()
        font = self.accuracy.font()
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        self.accuracy.setFont(font)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Class", "Precision", "Recall", "F1", "Images"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("Precision: of the images predicted as this class, the share that are.\n"
                              "Recall: of the images of this class, the share found.\nF1: their harmonic mean.")
        self.matrix = ConfusionMatrixView()
        self.matrix.cell_clicked.connect(self.show_cell)
        self.images_label = QLabel()
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListView.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(56, 56))
        self.gallery.setGridSize(QSize(84, 92))
        self.gallery.setResizeMode(QListView.ResizeMode.Adjust)
        self.gallery.setMovement(QListView.Movement.Static)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.title)
        left_layout.addWidget(self.accuracy)
        left_layout.addWidget(self.table)
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.addWidget(QLabel("<b>Confusion matrix</b> — click a cell"))
        middle_layout.addWidget(self.matrix, 1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.images_label)
        right_layout.addWidget(self.gallery, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        for w in (left, middle, right):
            splitter.addWidget(w)
        splitter.setSizes([330, 460, 440])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)

    def show_run(self, run, images=None) -> None:
        """Show a run's evaluation; ``images`` are its test images (loaded by the caller if needed)."""
        from playground.core.data import CLASS_NAMES

        self.run = run
        self.images = images
        evaluation = run.evaluation
        self.gallery.clear()
        if evaluation is None:
            self.title.setText(f"<b>{html.escape(run.label)}</b>: this run has no test evaluation ({run.status}).")
            self.accuracy.clear()
            self.table.setRowCount(0)
            self.matrix.set_matrix([], [])
            self.images_label.clear()
            self._shown = None
            return
        names = CLASS_NAMES[run.config.dataset]
        self.title.setText(f"<b>{html.escape(run.label)}</b> — {run.config.optimizer}, lr {run.config.lr:g}, "
                           f"{run.status}; {evaluation.count:,} test images")
        self.accuracy.setText(f"Test accuracy {evaluation.accuracy:.2%}")
        self.table.setRowCount(len(evaluation.per_class))
        for row, (name, m) in enumerate(zip(names, evaluation.per_class)):
            for col, value in enumerate((name, f"{m.precision:.3f}", f"{m.recall:.3f}", f"{m.f1:.3f}",
                                         str(m.support))):
                item = QTableWidgetItem(value)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        self.matrix.set_matrix(evaluation.confusion, names)
        self.show_mistakes()

    def show_mistakes(self) -> None:
        self._fill(self.run.evaluation.misclassified, "All misclassified test images")

    def show_cell(self, true: int, pred: int) -> None:
        names = self.matrix.names
        what = "correctly classified" if true == pred else f"predicted {names[pred]}"
        self._fill(self.run.evaluation.indices(true, pred), f"True {names[true]}, {what}")

    def set_images(self, images) -> None:
        """The run's test images, once loaded: the gallery fills in what it shows (a cell the user
        clicked meanwhile stays chosen)."""
        self.images = images
        if self._shown is not None:
            self._fill(*self._shown)

    def _fill(self, indices: list[int], caption: str) -> None:
        self._shown = (indices, caption)
        self.gallery.clear()
        shown = indices[:MAX_IMAGES]
        more = f" (first {MAX_IMAGES} shown)" if len(indices) > MAX_IMAGES else ""
        self.images_label.setText(f"<b>{caption}</b>: {len(indices)} image(s){more}")
        if self.images is None:
            if indices:
                self.images_label.setText(self.images_label.text() + " — loading the images…")
            return
        ev = self.run.evaluation
        names = self.matrix.names
        for i in shown:
            true = names[ev.labels[i]]
            item = QListWidgetItem(digit_icon(self.images[i]), f"{true} → {names[ev.predictions[i]]}")
            item.setToolTip(f"Test image {i}: true {true}, predicted {names[ev.predictions[i]]}")
            self.gallery.addItem(item)

    @property
    def shown_count(self) -> int:
        return self.gallery.count()
