//! The filter line, as the view and the picker both edit it (less's and htop's habit):
//! `/` starts typing; `Enter` or `Esc` stops typing and keeps what was typed, so the
//! list's keys (`x`, `F9`, `Enter`) act on the filtered list; `Esc` once not typing
//! clears the filter.

use ratatui::crossterm::event::KeyCode;

/// What a key did to the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKey {
    /// The key was the filter's (typed, a stop, a clear): the screen does nothing else.
    Taken,
    /// Not the filter's: the screen's own keys decide.
    Passed,
}

/// Applies `code` to a filter `text` that is being typed when `editing`.
pub fn filter_key(text: &mut String, editing: &mut bool, code: KeyCode) -> FilterKey {
    if *editing {
        match code {
            KeyCode::Enter | KeyCode::Esc => *editing = false,
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) => text.push(c),
            // Arrows and the like are the list's, even while typing.
            _ => return FilterKey::Passed,
        }
        return FilterKey::Taken;
    }
    match code {
        KeyCode::Char('/') => *editing = true,
        KeyCode::Esc if !text.is_empty() => text.clear(),
        _ => return FilterKey::Passed,
    }
    FilterKey::Taken
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(codes: &[KeyCode]) -> (String, bool, Vec<FilterKey>) {
        let (mut text, mut editing) = (String::new(), false);
        let taken = codes
            .iter()
            .map(|&c| filter_key(&mut text, &mut editing, c))
            .collect();
        (text, editing, taken)
    }

    #[test]
    fn enter_and_esc_after_typing_keep_the_filter_and_a_second_esc_clears_it() {
        use KeyCode::*;
        for stop in [Enter, Esc] {
            let (text, editing, _) = keys(&[Char('/'), Char('n'), Char('c'), stop]);
            assert_eq!((text.as_str(), editing), ("nc", false), "{stop:?}");
        }
        let (text, editing, taken) = keys(&[Char('/'), Char('n'), Enter, Char('x'), Esc]);
        assert_eq!((text.as_str(), editing), ("", false));
        // Once typing stopped, `x` is the list's; the Esc that clears is the filter's.
        assert_eq!(taken[3], FilterKey::Passed);
        assert_eq!(taken[4], FilterKey::Taken);
        // Esc with nothing to clear is the screen's (it quits there).
        assert_eq!(keys(&[Esc]).2, [FilterKey::Passed]);
        // Backspace edits; arrows move the list while typing.
        let (text, editing, taken) = keys(&[Char('/'), Char('a'), Char('b'), Backspace, Down]);
        assert_eq!((text.as_str(), editing), ("a", true));
        assert_eq!(taken[4], FilterKey::Passed);
    }
}
