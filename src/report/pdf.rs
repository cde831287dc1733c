//! The HTML report printed to PDF by a headless Chromium found on PATH (Debian's `chromium`):
//! the one place the report module runs a process. The same flags serve the tests that look at
//! the report as a person would (screenshot, DOM after layout).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::ReportError;

/// The names a Chromium goes by on PATH, in the order tried.
const NAMES: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// A headless Chromium, with a profile directory of its own.
#[derive(Debug, Clone)]
pub struct Chromium {
    /// The executable.
    pub path: PathBuf,
}

impl Chromium {
    /// The first Chromium on PATH, or None.
    pub fn find() -> Option<Chromium> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| NAMES.iter().map(move |n| dir.join(n)))
            .find(|p| p.is_file())
            .map(|path| Chromium { path })
    }

    /// A command with the flags every headless run here takes: no sandbox (CI runs as root),
    /// no GPU, nothing fetched from the network, a throwaway profile in `profile`.
    pub fn command(&self, profile: &Path) -> Command {
        let mut c = Command::new(&self.path);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
        c
    }

    /// Prints `html` (a file) to `pdf`: A4, the report's own print styles, header and page
    /// numbers from its `@page` rules (Chromium's own header and footer are off).
    pub fn print_to_pdf(&self, html: &Path, pdf: &Path) -> Result<(), ReportError> {
        let profile = tempfile::tempdir()
            .map_err(|e| ReportError::Render(format!("a profile for chromium: {e}")))?;
        let out = self
            .command(profile.path())
            .arg("--no-pdf-header-footer")
            .arg(format!("--print-to-pdf={}", pdf.display()))
            .arg(file_url(html)?)
            .output();
        let out = self.finished(out)?;
        let printed = std::fs::read(pdf).unwrap_or_default();
        if !printed.starts_with(b"%PDF-") {
            return Err(ReportError::Render(format!(
                "chromium wrote no PDF to {}: {}",
                pdf.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// Exit status checked, stderr named on failure.
    pub fn finished(&self, out: std::io::Result<Output>) -> Result<Output, ReportError> {
        let out = out
            .map_err(|e| ReportError::Render(format!("cannot run {}: {e}", self.path.display())))?;
        if !out.status.success() {
            return Err(ReportError::Render(format!(
                "{} failed ({}): {}",
                self.path.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(out)
    }
}

/// `file://` URL of a file, absolute.
pub fn file_url(path: &Path) -> Result<String, ReportError> {
    let abs = std::path::absolute(path)
        .map_err(|e| ReportError::Render(format!("{}: {e}", path.display())))?;
    let text = abs
        .to_str()
        .ok_or_else(|| ReportError::Render(format!("{} is not UTF-8", abs.display())))?;
    Ok(format!(
        "file://{}",
        percent_encoding::utf8_percent_encode(text, URL_PATH)
    ))
}

/// What a file URL's path must escape.
const URL_PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');
