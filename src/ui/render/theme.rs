//! Styles, with and without colour. Without colour every distinction that matters is
//! still carried by text (LEAK marks, headings) or by bold and reverse video.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    fn pick(&self, colored: Style, mono: Style) -> Style {
        if self.color { colored } else { mono }
    }

    pub fn leaked(&self) -> Style {
        self.pick(
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }

    /// The leaked figures in the header: impossible to miss.
    pub fn alarm(&self) -> Style {
        self.pick(
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        )
    }

    /// A process under an alert: notable, less loud than a leak.
    pub fn alert(&self) -> Style {
        self.pick(
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }

    pub fn ok(&self) -> Style {
        self.pick(Style::new().fg(Color::Green), Style::new())
    }

    pub fn heading(&self) -> Style {
        self.pick(
            Style::new().fg(Color::Red).add_modifier(Modifier::ITALIC),
            Style::new().add_modifier(Modifier::UNDERLINED),
        )
    }

    pub fn dim(&self) -> Style {
        self.pick(
            Style::new().fg(Color::DarkGray),
            Style::new().add_modifier(Modifier::DIM),
        )
    }

    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn title(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn notice(&self) -> Style {
        self.pick(
            Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        )
    }

    pub fn growth(&self, delta: i64) -> Style {
        match delta.signum() {
            1 => self.pick(Style::new().fg(Color::Yellow), Style::new()),
            -1 => self.pick(Style::new().fg(Color::Green), Style::new()),
            _ => Style::new(),
        }
    }

    pub fn series(&self, which: Series) -> Style {
        if !self.color {
            return Style::new();
        }
        Style::new().fg(match which {
            Series::Total => Color::Cyan,
            Series::Leaked => Color::Red,
            Series::Selected => Color::Yellow,
            Series::Cursor => Color::DarkGray,
        })
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Series {
    Total,
    Leaked,
    Selected,
    Cursor,
}
