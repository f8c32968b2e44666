//! Every binary's command line as an operator meets it: `--version` names the commit, the
//! manual pages and completions the package ships are made from the same definitions, and the
//! gateway checks (`--check`, Nginx's -t) and prints (`--print-config`, Nginx's -T) its
//! configuration.

use std::process::Command;

use hbnb_tests::bin_path;

const BINARIES: [&str; 6] = [
    "gateway",
    "hello-service",
    "number-service",
    "api-service",
    "web-dynamic",
    "db-backup",
];

fn scratch(name: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .subsec_nanos();
    let dir = std::env::temp_dir().join(format!("hbnb-cli-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn every_binary_names_its_version_and_commit() {
    for binary in BINARIES {
        let output = Command::new(bin_path(binary))
            .arg("--version")
            .output()
            .expect("run");
        assert!(output.status.success(), "{binary} --version");
        let text = String::from_utf8_lossy(&output.stdout);
        let expected = format!("{binary} {} (commit ", env!("CARGO_PKG_VERSION"));
        assert!(text.starts_with(&expected), "{binary}: {text}");
        assert!(!text.contains("commit )"), "{binary}: no commit in {text}");
    }
}

#[test]
fn manual_pages_and_completions_come_from_the_definitions() {
    let dir = scratch("man");
    for binary in BINARIES {
        let status = Command::new(bin_path(binary))
            .arg("--generate-man")
            .arg(&dir)
            .arg("--generate-completions")
            .arg(&dir)
            .output()
            .expect("run");
        assert!(status.status.success(), "{binary}");
        let status = Command::new(bin_path(binary))
            .arg("--generate-completions")
            .arg(&dir)
            .output()
            .expect("run");
        assert!(status.status.success(), "{binary}");
        let page = std::fs::read_to_string(dir.join(format!("{binary}.1"))).expect("man page");
        assert!(page.contains(".TH"), "{binary}.1 is a man page");
        let help = Command::new(bin_path(binary))
            .arg("--help")
            .output()
            .expect("run");
        let help = String::from_utf8_lossy(&help.stdout);
        // Every long flag of --help is in the page.
        for flag in help
            .split_whitespace()
            .filter(|w| w.starts_with("--") && w.len() > 2)
        {
            let flag = flag
                .trim_end_matches([',', '='])
                .split('=')
                .next()
                .unwrap_or(flag);
            let flag = flag.split('<').next().unwrap_or(flag);
            assert!(
                page.contains(&flag.replace('-', "\\-")) || page.contains(flag),
                "{binary}.1 lacks {flag}"
            );
        }
        let bash = std::fs::read_to_string(dir.join(format!("{binary}.bash"))).expect("bash");
        assert!(
            bash.contains(&format!("complete -F _{}", binary.replace('-', "__")))
                || bash.contains("complete -F"),
            "{binary}.bash"
        );
        assert!(
            dir.join(format!("_{binary}")).exists(),
            "zsh completion of {binary}"
        );
    }
    // db-backup's subcommands have pages of their own.
    for sub in ["now", "list", "verify", "restore"] {
        assert!(
            dir.join(format!("db-backup-{sub}.1")).exists(),
            "db-backup-{sub}.1"
        );
    }
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn gateway_check_accepts_what_print_config_prints_and_names_what_it_refuses() {
    let dir = scratch("check");
    let output = Command::new(bin_path("gateway"))
        .arg("--print-config")
        .env(
            "API_UPSTREAM",
            "unix:/run/hbnb/api.sock, http://127.0.0.1:5012",
        )
        .env_remove("GATEWAY_CONFIG")
        .output()
        .expect("run");
    assert!(output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        printed.contains(r#""unix:/run/hbnb/api.sock","#)
            && printed.contains(r#""http://127.0.0.1:5012","#),
        "{printed}"
    );
    let file = dir.join("gateway.toml");
    std::fs::write(&file, &printed).expect("write");

    // What it printed loads as it is: --check says OK, exit 0.
    let output = Command::new(bin_path("gateway"))
        .arg("--check")
        .env("GATEWAY_CONFIG", &file)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("configuration OK") && stdout.contains("7 routes"),
        "{stdout}"
    );

    // A route naming an unknown upstream: refused, with the route and the problem, exit 1.
    std::fs::write(
        &file,
        printed.replace("upstream = \"api\"", "upstream = \"apx\""),
    )
    .expect("write");
    let output = Command::new(bin_path("gateway"))
        .arg("--check")
        .env("GATEWAY_CONFIG", &file)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("configuration refused") && stderr.contains("unknown upstream \"apx\""),
        "{stderr}"
    );

    // A certificate that is not there: refused, naming the file.
    let output = Command::new(bin_path("gateway"))
        .arg("--check")
        .env_remove("GATEWAY_CONFIG")
        .env("TLS_CERT", dir.join("missing.pem"))
        .env("TLS_KEY", dir.join("missing.key"))
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing.pem"), "{stderr}");
    std::fs::remove_dir_all(&dir).expect("clean up");
}
