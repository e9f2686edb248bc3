//! The one table layout every `fibrectl` listing uses, and the cell formats the
//! features share. Keeping them here keeps every table aligned the same way.

/// Prints rows as columns aligned on the widest cell (numbers right-aligned).
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..headers.len())
        .map(|i| {
            !rows.is_empty()
                && rows.iter().all(|r| {
                    r.get(i).is_some_and(|c| {
                        !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                    })
                })
        })
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
