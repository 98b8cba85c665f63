//! `GET /{apiKey}/key-values` as pure functions: query parameters, search matching, sort
//! order and the bounded selection of one page out of a scan.

use std::cmp::Ordering;

use super::codec::StoredItem;

/// Page size when `rpp` is not given.
pub const RPP_DEFAULT: usize = 10;
/// Largest `rpp`.
pub const RPP_MAX: usize = 1000;
/// Largest `page × rpp`: the selection keeps that many items in memory while scanning.
pub const LIST_WINDOW_MAX: usize = 10_000;
/// Longest `searchQuery`, in characters.
pub const SEARCH_QUERY_CHARS_MAX: usize = 256;
/// Most fields in one `sort`.
pub const SORT_FIELDS_MAX: usize = 5;

/// A field the list can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Id,
    Key,
    Value,
    DateCreated,
    DateUpdated,
}

/// One `field|direction` of `sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub field: SortField,
    pub descending: bool,
}

/// The validated query of a list request.
#[derive(Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// As given (echoed back), `None` if absent or empty.
    pub search_query: Option<String>,
    /// `search_query`, lowercased once for matching.
    search_lower: Option<String>,
    /// 1-based.
    pub page: usize,
    pub rpp: usize,
    /// As given (echoed back), `None` if absent or empty.
    pub sort: Option<String>,
    /// Parsed `sort`; `key|asc` when absent. Ties always fall back to `id` ascending.
    pub sort_keys: Vec<SortKey>,
}

impl ListQuery {
    /// Parses `searchQuery`, `page`, `rpp` and `sort`; other parameters (`embed`, `fields`)
    /// are accepted and ignored. The error names the offending parameter.
    pub fn parse(query: &str) -> Result<Self, String> {
        let mut search_query = None;
        let mut page = None;
        let mut rpp = None;
        let mut sort = None;
        // The first occurrence of a parameter wins, as with `http::param`.
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match name.as_ref() {
                "searchQuery" => &mut search_query,
                "page" => &mut page,
                "rpp" => &mut rpp,
                "sort" => &mut sort,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.into_owned());
            }
        }
        let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
        let search_query = non_empty(search_query);
        if let Some(q) = &search_query {
            if q.chars().count() > SEARCH_QUERY_CHARS_MAX {
                return Err(format!(
                    "searchQuery must be at most {SEARCH_QUERY_CHARS_MAX} characters"
                ));
            }
        }
        let page = match non_empty(page) {
            None => 1,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|&p| p >= 1)
                .ok_or("page must be an integer >= 1")?,
        };
        let rpp = match non_empty(rpp) {
            None => RPP_DEFAULT,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|r| (1..=RPP_MAX).contains(r))
                .ok_or_else(|| format!("rpp must be an integer between 1 and {RPP_MAX}"))?,
        };
        if page.saturating_mul(rpp) > LIST_WINDOW_MAX {
            return Err(format!(
                "page × rpp must be at most {LIST_WINDOW_MAX}; narrow the search instead"
            ));
        }
        let sort = non_empty(sort);
        let sort_keys = match &sort {
            None => vec![SortKey {
                field: SortField::Key,
                descending: false,
            }],
            Some(s) => parse_sort(s)?,
        };
        Ok(ListQuery {
            search_lower: search_query.as_deref().map(str::to_lowercase),
            search_query,
            page,
            rpp,
            sort,
            sort_keys,
        })
    }

    /// How many items of the sorted list this page needs: everything up to its end.
    pub fn window(&self) -> usize {
        self.page * self.rpp
    }

    /// Whether `item` matches `searchQuery`: a case-insensitive substring of its key or value.
    pub fn matches(&self, item: &StoredItem<'_>) -> bool {
        match &self.search_lower {
            None => true,
            Some(needle) => {
                contains_ignore_case(item.key, needle) || contains_ignore_case(item.value, needle)
            }
        }
    }

    /// The order of the list: `sort_keys`, then `id` ascending so the order is total.
    pub fn compare(&self, a: &ListedItem, b: &ListedItem) -> Ordering {
        for k in &self.sort_keys {
            let ord = match k.field {
                SortField::Id => a.id.cmp(&b.id),
                SortField::Key => a.key.cmp(&b.key),
                SortField::Value => a.value.cmp(&b.value),
                SortField::DateCreated => a.date_created_ms.cmp(&b.date_created_ms),
                SortField::DateUpdated => a.date_updated_ms.cmp(&b.date_updated_ms),
            };
            let ord = if k.descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        a.id.cmp(&b.id)
    }
}

/// `field|direction[,field|direction...]`; field names are case-insensitive, the direction
/// (`asc` / `desc`, case-insensitive) defaults to `asc`.
fn parse_sort(s: &str) -> Result<Vec<SortKey>, String> {
    let mut keys = Vec::new();
    for part in s.split(',') {
        let (field, direction) = part.split_once('|').unwrap_or((part, "asc"));
        let field = match field.trim().to_ascii_lowercase().as_str() {
            "id" => SortField::Id,
            "key" => SortField::Key,
            "value" => SortField::Value,
            "datecreated" => SortField::DateCreated,
            "dateupdated" => SortField::DateUpdated,
            other => {
                return Err(format!(
                    "sort: unknown field {other:?} (use id, key, value, dateCreated, dateUpdated)"
                ))
            }
        };
        let descending = match direction.trim().to_ascii_lowercase().as_str() {
            "asc" => false,
            "desc" => true,
            other => {
                return Err(format!(
                    "sort: unknown direction {other:?} (use asc or desc)"
                ))
            }
        };
        keys.push(SortKey { field, descending });
    }
    if keys.len() > SORT_FIELDS_MAX {
        return Err(format!("sort accepts at most {SORT_FIELDS_MAX} fields"));
    }
    Ok(keys)
}

/// Whether `haystack` contains `needle_lower` (already lowercased), ignoring case.
fn contains_ignore_case(haystack: &str, needle_lower: &str) -> bool {
    if haystack.is_ascii() && needle_lower.is_ascii() {
        // The common case, without allocating.
        let (h, n) = (haystack.as_bytes(), needle_lower.as_bytes());
        return n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(needle_lower)
}

/// A resource kept while selecting a page (owned: it outlives the scan chunk it came from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedItem {
    pub id: String,
    pub key: String,
    pub value: String,
    pub date_created_ms: i64,
    pub date_updated_ms: i64,
}

impl ListedItem {
    pub fn new(id: &str, item: &StoredItem<'_>) -> Self {
        ListedItem {
            id: id.to_owned(),
            key: item.key.to_owned(),
            value: item.value.to_owned(),
            date_created_ms: item.date_created_ms,
            date_updated_ms: item.date_updated_ms,
        }
    }
}

/// Keeps the first `query.window()` items in `query`'s order out of everything offered, in
/// memory proportional to the window (not to the number offered).
pub struct PageSelection<'q> {
    query: &'q ListQuery,
    kept: Vec<ListedItem>,
    /// Matching items offered so far (`totalRecords`).
    pub total: usize,
}

impl<'q> PageSelection<'q> {
    pub fn new(query: &'q ListQuery) -> Self {
        PageSelection {
            query,
            kept: Vec::new(),
            total: 0,
        }
    }

    /// Offers one matching item.
    pub fn offer(&mut self, item: ListedItem) {
        self.total += 1;
        self.kept.push(item);
        // Prune only when twice the window is held: linear work per pruning, amortized O(1)
        // per offer.
        if self.kept.len() >= 2 * self.query.window() {
            self.prune();
        }
    }

    fn prune(&mut self) {
        let window = self.query.window();
        if self.kept.len() > window {
            self.kept
                .select_nth_unstable_by(window - 1, |a, b| self.query.compare(a, b));
            self.kept.truncate(window);
        }
    }

    /// The requested page, in order.
    pub fn into_page(mut self) -> Vec<ListedItem> {
        self.prune();
        self.kept.sort_unstable_by(|a, b| self.query.compare(a, b));
        let skip = (self.query.page - 1) * self.query.rpp;
        self.kept.drain(..skip.min(self.kept.len()));
        self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, key: &str, value: &str, created: i64, updated: i64) -> ListedItem {
        ListedItem {
            id: id.into(),
            key: key.into(),
            value: value.into(),
            date_created_ms: created,
            date_updated_ms: updated,
        }
    }

    #[test]
    fn defaults() {
        let q = ListQuery::parse("").unwrap();
        assert_eq!(
            (q.page, q.rpp, q.search_query, q.sort),
            (1, RPP_DEFAULT, None, None)
        );
        assert_eq!(
            q.sort_keys,
            vec![SortKey {
                field: SortField::Key,
                descending: false
            }]
        );
        let q = ListQuery::parse("searchQuery=&sort=&page=&rpp=&embed=x&fields=y").unwrap();
        assert_eq!(
            (q.page, q.rpp, q.search_query, q.sort),
            (1, RPP_DEFAULT, None, None)
        );
    }

    #[test]
    fn parses_every_parameter() {
        let q = ListQuery::parse("searchQuery=Ab%20c&page=2&rpp=5&sort=dateCreated%7Cdesc,KEY")
            .unwrap();
        assert_eq!(q.search_query.as_deref(), Some("Ab c"));
        assert_eq!((q.page, q.rpp, q.window()), (2, 5, 10));
        assert_eq!(q.sort.as_deref(), Some("dateCreated|desc,KEY"));
        assert_eq!(
            q.sort_keys,
            vec![
                SortKey {
                    field: SortField::DateCreated,
                    descending: true
                },
                SortKey {
                    field: SortField::Key,
                    descending: false
                },
            ]
        );
    }

    #[test]
    fn rejects_bad_parameters() {
        let too_long = format!("searchQuery={}", "a".repeat(SEARCH_QUERY_CHARS_MAX + 1));
        for bad in [
            "page=0",
            "page=x",
            "page=-1",
            "rpp=0",
            "rpp=1001",
            "rpp=1.5",
            "page=11&rpp=1000",
            "sort=color|asc",
            "sort=key|up",
            "sort=key|asc,",
            "sort=key,key,key,key,key,key",
            too_long.as_str(),
        ] {
            assert!(ListQuery::parse(bad).is_err(), "{bad}");
        }
        assert!(ListQuery::parse("page=10&rpp=1000").is_ok());
    }

    #[test]
    fn search_ignores_case_in_key_and_value() {
        let q = ListQuery::parse("searchQuery=CoLoR").unwrap();
        let stored = |key, value| StoredItem {
            date_created_ms: 0,
            date_updated_ms: 0,
            key,
            value,
        };
        assert!(q.matches(&stored("theme-color", "x")));
        assert!(q.matches(&stored("x", "COLORS")));
        assert!(!q.matches(&stored("colour", "x")));
        let q = ListQuery::parse("searchQuery=%C3%89T%C3%89").unwrap(); // "ÉTÉ"
        assert!(q.matches(&stored("x", "l'été")));
    }

    #[test]
    fn sorts_with_id_as_the_last_tie_breaker() {
        let q = ListQuery::parse("sort=value|desc,dateUpdated").unwrap();
        let a = item("a", "k1", "v", 1, 5);
        let b = item("b", "k2", "v", 1, 3);
        let c = item("c", "k3", "w", 1, 3);
        let d = item("d", "k4", "v", 1, 3);
        let mut all = vec![a.clone(), b.clone(), c.clone(), d.clone()];
        all.sort_by(|x, y| q.compare(x, y));
        assert_eq!(all, vec![c, b, d, a]);
    }

    #[test]
    fn selection_keeps_only_the_window_and_returns_the_page() {
        let q = ListQuery::parse("page=3&rpp=4&sort=dateCreated|desc").unwrap();
        let mut sel = PageSelection::new(&q);
        // Offer 100 items in a scrambled order; created = i.
        for i in 0..100i64 {
            let n = (i * 37) % 100;
            sel.offer(item(&format!("{n:03}"), &format!("k{n}"), "v", n, n));
            assert!(sel.kept.len() < 2 * q.window());
        }
        assert_eq!(sel.total, 100);
        let page: Vec<i64> = sel.into_page().iter().map(|i| i.date_created_ms).collect();
        assert_eq!(page, vec![91, 90, 89, 88]);
    }

    #[test]
    fn selection_past_the_end_is_empty() {
        let q = ListQuery::parse("page=3&rpp=4").unwrap();
        let mut sel = PageSelection::new(&q);
        for i in 0..5 {
            sel.offer(item(&format!("{i}"), &format!("k{i}"), "v", i, i));
        }
        assert_eq!(sel.total, 5);
        assert!(sel.into_page().is_empty());
    }
}
