//! Records the git revision the binary is built from as `RYTHMIQ_GIT_REV` (shown in the HTML report's header): `RYTHMIQ_GIT_REV` from the environment when set (the Docker build passes it as a
//! build argument, since its context has no `.git`), else `git rev-parse --short HEAD`, else `unknown` (a source
//! tarball, or no git installed). A build never fails for want of a revision.

use std::path::PathBuf;
use std::process::Command;

/// `git` with the arguments, its trimmed stdout when it succeeds.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=RYTHMIQ_GIT_REV");
    let from_env = std::env::var("RYTHMIQ_GIT_REV").ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let rev = from_env.or_else(|| {
        let rev = git(&["rev-parse", "--short", "HEAD"])?;
        // Rebuild when HEAD moves: HEAD itself (a checkout), the branch it points to (a commit), packed refs.
        for path in ["HEAD", "packed-refs"]
            .into_iter()
            .map(String::from)
            .chain(git(&["symbolic-ref", "-q", "HEAD"]))
            .filter_map(|p| git(&["rev-parse", "--git-path", &p]))
        {
            let path = PathBuf::from(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        Some(rev)
    });
    // Only [0-9A-Za-z._-]: it is pasted into HTML and logs.
    let rev = rev
        .filter(|r| r.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=RYTHMIQ_GIT_REV={rev}");
}
