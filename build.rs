//! Installs the live page's chart library (uPlot, pinned in `src/admin/ui/package-lock.json`) from
//! npm into OUT_DIR, so the admin server embeds it and the page works with no network.
//! `LLAMACOL_UI_NODE_MODULES` points at an existing `node_modules` instead (offline
//! builds: run `npm ci` in `src/admin/ui` once and point here). With no npm on PATH the
//! build still succeeds: the page is embedded without its charts and says so (numbers and
//! tables only), and cargo prints a warning naming the fix.

use std::path::{Path, PathBuf};
use std::process::Command;

const FILES: [&str; 2] = ["uplot/dist/uPlot.iife.min.js", "uplot/dist/uPlot.min.css"];

fn main() {
    println!("cargo:rerun-if-changed=src/admin/ui/package.json");
    println!("cargo:rerun-if-changed=src/admin/ui/package-lock.json");
    println!("cargo:rerun-if-env-changed=LLAMACOL_UI_NODE_MODULES");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-env-changed=PATH");
    let modules = match std::env::var_os("LLAMACOL_UI_NODE_MODULES") {
        Some(dir) => PathBuf::from(dir),
        None if !npm_on_path() => return without_charts(&out),
        None => install(&out.join("ui")),
    };
    for file in FILES {
        let from = modules.join(file);
        let to = out.join(Path::new(file).file_name().expect("a file name"));
        if let Err(e) = std::fs::copy(&from, &to) {
            panic!(
                "the live page needs {}: {e}. Run `npm ci` in src/admin/ui (Node.js and npm: \
                 `apt install npm`), or set LLAMACOL_UI_NODE_MODULES to a node_modules \
                 holding uplot as pinned in src/admin/ui/package-lock.json",
                from.display()
            );
        }
    }
}

fn npm_on_path() -> bool {
    Command::new("npm").arg("--version").output().is_ok()
}

/// No npm: the page's chart library is replaced by a note the page shows in its header,
/// so a component author's build (examples/custom-collector) never needs Node.
fn without_charts(out: &Path) {
    println!(
        "cargo:warning=npm is not on PATH: the live page is built without its charts \
         (install Node.js and npm, or set LLAMACOL_UI_NODE_MODULES, and rebuild for them)"
    );
    let note = "// llamacol was built without npm: the live page shows numbers, not charts.\n\
        document.addEventListener(\"DOMContentLoaded\", () => {\n\
          const p = document.createElement(\"p\");\n\
          p.className = \"build-note\";\n\
          p.textContent = \"This llamacol was built without npm, so the page has no charts: \
        rebuild with Node.js and npm on PATH to get them.\";\n\
          document.querySelector(\"header\").after(p);\n\
        });\n";
    std::fs::write(out.join("uPlot.iife.min.js"), note).expect("OUT_DIR is writable");
    std::fs::write(out.join("uPlot.min.css"), "").expect("OUT_DIR is writable");
}

/// `npm ci` of `ui/` in `dir` (once per lock file); returns its `node_modules`.
fn install(dir: &Path) -> PathBuf {
    let lock =
        std::fs::read("src/admin/ui/package-lock.json").expect("src/admin/ui/package-lock.json");
    let modules = dir.join("node_modules");
    if std::fs::read(dir.join("package-lock.json")).ok() == Some(lock.clone())
        && FILES.iter().all(|f| modules.join(f).exists())
    {
        return modules;
    }
    std::fs::create_dir_all(dir).expect("OUT_DIR is writable");
    std::fs::copy("src/admin/ui/package.json", dir.join("package.json"))
        .expect("src/admin/ui/package.json");
    std::fs::write(dir.join("package-lock.json"), &lock).expect("OUT_DIR is writable");
    let status = Command::new("npm")
        .args([
            "ci",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--prefer-offline",
        ])
        .current_dir(dir)
        .status();
    match status {
        Ok(s) if s.success() => modules,
        Ok(s) => panic!(
            "`npm ci` for the live page's chart library failed ({s}); is the npm registry \
             reachable? Offline, set LLAMACOL_UI_NODE_MODULES to a node_modules holding \
             uplot as pinned in src/admin/ui/package-lock.json"
        ),
        Err(e) => panic!(
            "the live page's chart library (uPlot) is installed with npm at build time, and \
             npm did not run: {e}. Install Node.js and npm (`apt install npm`), or set \
             LLAMACOL_UI_NODE_MODULES to a node_modules holding uplot as pinned in \
             src/admin/ui/package-lock.json"
        ),
    }
}
