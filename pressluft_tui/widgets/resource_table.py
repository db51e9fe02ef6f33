"""A table of resources that can be filtered with ``/`` and refreshed in place.

Refreshing keeps the cursor on the same row (by key), so live updates never yank the
operator's selection away.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Static

Cells = Sequence[Text]
# Cells, or a function making them: a thousand-row table builds its cells batch by batch.
Row = tuple[str, Cells | Callable[[], Cells]]
# A first screenful goes in at once; the rest follows in chunks between frames, so a
# thousand-row table answers keys as soon as its first rows are there.
FIRST_BATCH = 50
BATCH = 100


class ResourceTable(Vertical):
    """DataTable + a filter box + an empty-state line that says what to do."""

    BINDINGS = [
        Binding("slash", "start_filter", "Filter", id="table.filter"),
    ]

    class Chosen(Message):
        """Enter on a row."""

        def __init__(self, table: ResourceTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> ResourceTable:
            return self.table

    def __init__(self, columns: Sequence[str], empty_text: str, *, id: str | None = None,
                 ) -> None:
        super().__init__(id=id, classes="resource-table")
        self._columns = list(columns)
        self._empty_text = empty_text
        self._rows: list[Row] = []
        self._filter = ""
        self._generation = 0
        self.loaded = False  # every row of the latest refresh is in the table

    def compose(self) -> ComposeResult:
        box = Input(placeholder="filter… (esc to clear)", classes="table-filter")
        box.can_focus = False  # hidden until `/`; must not take focus or keys before
        yield box
        table: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=True)
        table.add_columns(*self._columns)
        yield table
        yield Static(Text(self._empty_text), classes="empty-state")

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one(DataTable)

    @property
    def selected_key(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value

    def set_rows(self, rows: Sequence[Row]) -> None:
        self._rows = list(rows)
        self._render_rows()

    def _render_rows(self) -> None:
        self.loaded = False
        table = self.table
        keep = self.selected_key
        needle = self._filter.lower()
        visible = [row for row in self._rows
                   if not needle or any(needle in cell.plain.lower() for cell in _cells(row))]
        table.clear()
        self._generation += 1
        self._add_batch(visible, 0, FIRST_BATCH, keep, self._generation)
        empty = self.query_one(".empty-state", Static)
        empty.display = not visible
        if not visible and self._rows:
            empty.update(Text(f"nothing matches “{self._filter}”"))
        elif not visible:
            empty.update(Text(self._empty_text))

    def _add_batch(self, rows: list[Row], start: int, size: int, keep: str | None,
                   generation: int) -> None:
        if generation != self._generation:  # a newer refresh replaced these rows
            return
        table = self.table
        batch = rows[start:start + size]
        for offset, row in enumerate(batch):
            key = row[0]
            table.add_row(*_cells(row), key=key)
            if key == keep:
                table.move_cursor(row=start + offset, animate=False)
        if start + size < len(rows):
            self.set_timer(0.01, lambda: self._add_batch(rows, start + size, BATCH, keep,
                                                         generation))
        else:
            self.loaded = True

    def focus_table(self) -> None:
        self.table.focus()

    def action_start_filter(self) -> None:
        box = self.query_one(Input)
        box.can_focus = True
        box.add_class("visible")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._filter = event.value
        self._render_rows()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.table.focus()

    def on_key(self, event: object) -> None:
        key = getattr(event, "key", None)
        box = self.query_one(Input)
        if key == "escape" and box.has_focus:
            getattr(event, "stop")()  # noqa: B009 - events.Key.stop
            box.value = ""
            box.remove_class("visible")
            box.can_focus = False
            self.table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Chosen(self, event.row_key.value))


def _cells(row: Row) -> Cells:
    cells = row[1]
    return cells() if callable(cells) else cells
