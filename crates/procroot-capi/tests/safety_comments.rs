//! Every `unsafe` block of the C API says why it is sound: a `// SAFETY:` comment on one of the
//! lines just above it (this crate and the library's `sys` module are the only `unsafe` code).

#[test]
fn every_unsafe_block_has_a_safety_comment() {
    let src = include_str!("../src/lib.rs");
    let lines: Vec<&str> = src.lines().collect();
    let mut missing = Vec::new();
    let mut blocks = 0;
    for (i, line) in lines.iter().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        if !code.contains("unsafe {") {
            continue;
        }
        blocks += 1;
        let above = &lines[i.saturating_sub(4)..=i];
        if !above.iter().any(|l| l.contains("// SAFETY:")) {
            missing.push(format!("src/lib.rs:{}: {}", i + 1, line.trim()));
        }
    }
    assert!(
        blocks > 30,
        "found only {blocks} unsafe blocks: is the scan still right?"
    );
    assert!(
        missing.is_empty(),
        "unsafe without SAFETY:\n{}",
        missing.join("\n")
    );
}
