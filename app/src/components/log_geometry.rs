//! The log viewer's geometry: which rows to render for a scroll position, in a scroll range
//! that stays within what browsers allow however many lines the log has.

/// Height of one row in pixels; `style/main.css` uses the same value.
pub const ROW_HEIGHT: f64 = 20.0;
/// Browsers cap element heights (Firefox near 17.9M px); beyond this the scroll range is scaled.
pub(crate) const MAX_SCROLL_PX: f64 = 8_000_000.0;
pub(crate) const OVERSCAN: usize = 10;

/// Where the window of rendered rows is, for a given scroll position.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub first_row: usize,
    pub count: usize,
    /// Offset of the first rendered row from the top of the scroller's content.
    pub top_px: f64,
    pub spacer_px: f64,
}

/// Pure geometry: which rows to render for a scroll position (or at the bottom when following).
pub fn window(rows: usize, scroll_top: f64, viewport: f64, follow: bool) -> Window {
    let total = rows as f64 * ROW_HEIGHT;
    let spacer_px = total.min(MAX_SCROLL_PX);
    let visible = (viewport / ROW_HEIGHT).ceil() as usize + 1;
    let max_scroll = (spacer_px - viewport).max(0.0);
    let scroll = if follow {
        max_scroll
    } else {
        scroll_top.clamp(0.0, max_scroll)
    };
    let first_f = if total <= MAX_SCROLL_PX || max_scroll == 0.0 {
        scroll / ROW_HEIGHT
    } else {
        scroll / max_scroll * (rows.saturating_sub(visible.saturating_sub(1))) as f64
    };
    let first = (first_f.floor() as usize).min(rows.saturating_sub(1));
    let frac = (first_f - first as f64) * ROW_HEIGHT;
    let start = first.saturating_sub(OVERSCAN);
    let count = (visible + OVERSCAN + (first - start)).min(rows - start.min(rows));
    Window {
        first_row: start,
        count,
        top_px: (scroll - frac - (first - start) as f64 * ROW_HEIGHT).max(0.0),
        spacer_px,
    }
}

/// The scroll position that shows `row` near the top third of the viewport.
pub fn scroll_for_row(rows: usize, row: usize, viewport: f64) -> f64 {
    let total = rows as f64 * ROW_HEIGHT;
    let spacer = total.min(MAX_SCROLL_PX);
    let max_scroll = (spacer - viewport).max(0.0);
    let target = if total <= MAX_SCROLL_PX {
        row as f64 * ROW_HEIGHT - viewport / 3.0
    } else {
        let visible = (viewport / ROW_HEIGHT).ceil() as usize;
        row as f64 / (rows.saturating_sub(visible)).max(1) as f64 * max_scroll
    };
    target.clamp(0.0, max_scroll)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_covers_the_viewport_plus_overscan() {
        let w = window(1000, 2000.0, 400.0, false);
        assert_eq!(w.first_row, 100 - OVERSCAN);
        assert!(w.count >= 21 + OVERSCAN);
        assert_eq!(w.spacer_px, 20_000.0);
        assert_eq!(w.top_px, (100 - OVERSCAN) as f64 * ROW_HEIGHT);
    }

    #[test]
    fn following_shows_the_last_rows_whatever_the_scroll_position() {
        let w = window(1000, 0.0, 400.0, true);
        assert_eq!(w.first_row + w.count, 1000);
    }

    #[test]
    fn ten_million_rows_fit_in_a_capped_spacer_and_reach_the_end() {
        for rows in [1_000_000, 10_000_000] {
            let w = window(rows, MAX_SCROLL_PX - 400.0, 400.0, false);
            assert_eq!(w.spacer_px, MAX_SCROLL_PX);
            assert_eq!(w.first_row + w.count, rows, "{w:?}");
            let top = window(rows, 0.0, 400.0, false);
            assert_eq!(top.first_row, 0);
            let s = scroll_for_row(rows, rows / 2, 400.0);
            let mid = window(rows, s, 400.0, false);
            assert!(
                (mid.first_row..mid.first_row + mid.count).contains(&(rows / 2)),
                "{mid:?}"
            );
        }
    }

    #[test]
    fn small_logs_have_no_empty_window() {
        let w = window(3, 0.0, 400.0, false);
        assert_eq!((w.first_row, w.count), (0, 3));
        let w = window(0, 0.0, 400.0, true);
        assert_eq!(w.count, 0);
    }
}
