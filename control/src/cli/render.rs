//! The one table layout every `fibrectl` listing uses, and the cell formats the
//! features share. Keeping them here keeps every table aligned the same way.

/// Prints rows as columns aligned on the widest cell (numbers, and quantities
/// with a unit, right-aligned).
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..headers.len())
        .map(|i| !rows.is_empty() && rows.iter().all(|r| r.get(i).is_some_and(|c| is_number(c))))
        .collect();
    let line = |cells: &mut dyn Iterator<Item = (usize, &str)>| {
        let mut out = String::new();
        for (i, cell) in cells {
            if i > 0 {
                out.push_str("  ");
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            if numeric[i] {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            }
        }
        println!("{}", out.trim_end());
    };
    line(&mut headers.iter().copied().enumerate());
    for row in rows {
        line(&mut row.iter().map(String::as_str).enumerate());
    }
}

/// A cell aligned as a number: digits (and dots), or a quantity with its unit
/// (`14.9 Mpps`).
fn is_number(cell: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    match cell.split_once(' ') {
        None => digits(cell),
        Some((n, unit)) => digits(n) && unit.bytes().all(|b| b.is_ascii_alphabetic()),
    }
}

/// A table id as the operator names it (`main`, or its number).
pub fn table_name(t: u32) -> String {
    fib::TableId(t).to_string()
}

/// An optional value, `-` when absent.
pub fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".to_owned(), T::to_string)
}

/// A flag as `yes` / `no`.
pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}
