//! Every operator subcommand's `--help` shows usage examples.

mod cli_common;

use cli_common::*;

#[test]
fn every_command_help_has_examples() {
    let commands: &[&[&str]] = &[
        &["inspect"],
        &["inspect", "wal"],
        &["inspect", "table"],
        &["inspect", "manifest"],
        &["verify"],
        &["dump"],
        &["load"],
        &["compact"],
        &["backup"],
        &["restore"],
        &["keygen"],
        &["keygen", "voximplant"],
        &["token"],
        &["token", "voximplant"],
        &["token", "oauth"],
    ];
    for command in commands {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = Vec::new();
        for word in command.iter() {
            args.push(word);
        }
        args.push(&"--help");
        let out = strata(&args);
        assert_status(&out, 0);
        let help = stdout(&out);
        let example = format!("strata {}", command.join(" "));
        assert!(
            help.contains("Examples:") && help.contains(&example),
            "`{example} --help` shows no example of itself:\n{help}"
        );
    }
}
