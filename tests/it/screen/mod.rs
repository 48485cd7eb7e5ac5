//! A `TestBackend` that keeps every frame drawn, for tests that drive a loop on its
//! own thread and wait for what the screen shows.

use std::convert::Infallible;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};

/// Every screen drawn, as text.
#[derive(Default)]
pub struct Screens {
    list: Mutex<Vec<String>>,
    drawn: Condvar,
}

impl Screens {
    /// The screen as last drawn.
    pub fn last(&self) -> String {
        self.list
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits up to `limit` until the screen shows `needle`; fails with the screen.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> String {
        let list = self.list.lock().unwrap();
        let (list, _) = self
            .drawn
            .wait_timeout_while(list, limit, |l| {
                !l.last().is_some_and(|s| s.contains(needle))
            })
            .unwrap();
        let screen = list.last().cloned().unwrap_or_default();
        assert!(
            screen.contains(needle),
            "waited {limit:?} for {needle:?}; the screen shows:\n{screen}"
        );
        screen
    }
}

/// A `width`×`height` backend recording into the returned [`Screens`].
pub fn recorder(width: u16, height: u16) -> (Recorder, Arc<Screens>) {
    let screens = Arc::new(Screens::default());
    (
        Recorder {
            inner: TestBackend::new(width, height),
            screens: screens.clone(),
        },
        screens,
    )
}

pub struct Recorder {
    inner: TestBackend,
    screens: Arc<Screens>,
}

impl Backend for Recorder {
    type Error = Infallible;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Infallible>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> Result<(), Infallible> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> Result<(), Infallible> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> Result<Position, Infallible> {
        self.inner.get_cursor_position()
    }
    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> Result<(), Infallible> {
        self.inner.set_cursor_position(position)
    }
    fn clear(&mut self) -> Result<(), Infallible> {
        self.inner.clear()
    }
    fn clear_region(&mut self, clear_type: ClearType) -> Result<(), Infallible> {
        self.inner.clear_region(clear_type)
    }
    fn size(&self) -> Result<Size, Infallible> {
        self.inner.size()
    }
    fn window_size(&mut self) -> Result<WindowSize, Infallible> {
        self.inner.window_size()
    }
    fn flush(&mut self) -> Result<(), Infallible> {
        self.inner.flush()?;
        self.screens
            .list
            .lock()
            .unwrap()
            .push(self.inner.to_string());
        self.screens.drawn.notify_all();
        Ok(())
    }
}
