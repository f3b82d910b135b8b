//! django-filter style filter sets for estates and houses, parsed into typed values.
use super::pagination::{Cursor, PageRequest};
use super::query::{FieldParser, QueryMap};
use super::validation::Invalid;

const MAX_HOT: u64 = u32::MAX as u64;
const MAX_PRICE: u64 = u32::MAX as u64;

/// A sort direction on one column; every ordering is followed by `id` in the same direction so
/// that pages are stable when values tie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ordering<C> {
    pub column: C,
    pub descending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstateColumn {
    Id,
    Hot,
    Name,
}

impl EstateColumn {
    pub fn sql(self) -> &'static str {
        match self {
            EstateColumn::Id => "id",
            EstateColumn::Hot => "hot",
            EstateColumn::Name => "name",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HouseColumn {
    Price,
    PublishedAt,
    Area,
}

impl HouseColumn {
    pub fn sql(self) -> &'static str {
        match self {
            HouseColumn::Price => "price",
            HouseColumn::PublishedAt => "published_at",
            HouseColumn::Area => "area",
        }
    }
}

pub const ESTATE_ORDERINGS: &[&str] = &["id", "-id", "hot", "-hot", "name", "-name"];
pub const HOUSE_ORDERINGS: &[&str] = &["price", "-price", "published_at", "-published_at", "area", "-area"];

fn parse_ordering<C: Copy>(
    p: &mut FieldParser<'_>,
    raw: Option<&str>,
    allowed: &[&str],
    column: impl Fn(&str) -> C,
    default: Ordering<C>,
) -> Ordering<C> {
    let Some(raw) = raw else { return default };
    let raw = raw.trim();
    if !allowed.contains(&raw) {
        p.error("ordering", format!("Unknown ordering; valid values are: {}.", allowed.join(", ")));
        return default;
    }
    let (descending, name) = match raw.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, raw),
    };
    Ordering { column: column(name), descending }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EstateFilter {
    /// Prefix match on the name (`startswith`).
    pub name: Option<String>,
    pub min_hot: Option<u32>,
    pub max_hot: Option<u32>,
    pub district: Option<u32>,
    pub ordering: Ordering<EstateColumn>,
    pub page: PageRequest,
}

impl EstateFilter {
    pub fn parse(q: &QueryMap) -> Result<Self, Invalid> {
        let mut p = FieldParser::new(q);
        let name = p.text("name", 64);
        let min_hot = p.uint("minhot", MAX_HOT).map(|v| v as u32);
        let max_hot = p.uint("maxhot", MAX_HOT).map(|v| v as u32);
        let district = p.id("dist");
        let ordering = parse_ordering(
            &mut p,
            q.get("ordering"),
            ESTATE_ORDERINGS,
            |n| match n {
                "hot" => EstateColumn::Hot,
                "name" => EstateColumn::Name,
                _ => EstateColumn::Id,
            },
            Ordering { column: EstateColumn::Id, descending: false },
        );
        if let (Some(lo), Some(hi)) = (min_hot, max_hot) {
            if lo > hi {
                p.error("minhot", format!("minhot ({lo}) must not be greater than maxhot ({hi})."));
            }
        }
        let page = PageRequest::parse_into(&mut p);
        p.finish()?;
        Ok(EstateFilter { name, min_hot, max_hot, district, ordering, page })
    }
}

impl EstateFilter {
    /// The filter alone, normalized (parameter order, spelling and empty values do not matter):
    /// the key of its count.
    pub fn count_key(&self) -> String {
        format!("d={:?};n={:?};lo={:?};hi={:?}", self.district, self.name, self.min_hot, self.max_hot)
    }

    /// The ordering and the page (appended to [`Self::count_key`] for a page's key).
    pub fn page_key(&self) -> String {
        format!("o={:?}/{};p={};s={}", self.ordering.column, self.ordering.descending, self.page.page, self.page.size)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HousePaging {
    Page(PageRequest),
    /// Keyset pagination: `None` is the first page.
    Cursor {
        after: Option<Cursor>,
        size: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseFilter {
    /// Substring match on the title (`icontains`).
    pub title: Option<String>,
    pub min_price: Option<u32>,
    pub max_price: Option<u32>,
    pub city: Option<u32>,
    pub district: Option<u32>,
    pub house_type: Option<u32>,
    pub estate: Option<u32>,
    pub ordering: Ordering<HouseColumn>,
    /// The ordering's query value (cursors are bound to it).
    pub ordering_name: String,
    pub paging: HousePaging,
}

/// The range a cursor's sort key may hold for a column (anything else was not issued by us).
fn key_in_range(c: HouseColumn, k: i64) -> bool {
    match c {
        HouseColumn::Price | HouseColumn::Area => (0..=u32::MAX as i64).contains(&k),
        // DATETIME's range: 1000-01-01 .. 9999-12-31 23:59:59 UTC.
        HouseColumn::PublishedAt => (-30_610_224_000..=253_402_300_799).contains(&k),
    }
}

impl HouseFilter {
    /// Whether a filter other than the title is set (ordering and paging aside).
    pub fn filters_besides_title(&self) -> bool {
        self.district.is_some()
            || self.city.is_some()
            || self.estate.is_some()
            || self.house_type.is_some()
            || self.min_price.is_some()
            || self.max_price.is_some()
    }

    /// `max_depth` bounds page x size for page numbers (`pagination.max_page_depth`): deeper
    /// results are read with the keyset cursor, whose cost does not grow with the depth.
    pub fn parse(q: &QueryMap, max_depth: u64) -> Result<Self, Invalid> {
        let mut p = FieldParser::new(q);
        let title = p.text("title", 100);
        let min_price = p.uint("minprice", MAX_PRICE).map(|v| v as u32);
        let max_price = p.uint("maxprice", MAX_PRICE).map(|v| v as u32);
        let city = p.id("city");
        let district = p.id("district");
        let house_type = p.id("type");
        let estate = p.id("estate");
        let ordering = parse_ordering(
            &mut p,
            q.get("ordering"),
            HOUSE_ORDERINGS,
            |n| match n {
                "published_at" => HouseColumn::PublishedAt,
                "area" => HouseColumn::Area,
                _ => HouseColumn::Price,
            },
            // Newest first, as a listings site shows them.
            Ordering { column: HouseColumn::PublishedAt, descending: true },
        );
        let ordering_name = format!("{}{}", if ordering.descending { "-" } else { "" }, ordering.column.sql());
        if let (Some(lo), Some(hi)) = (min_price, max_price) {
            if lo > hi {
                p.error("minprice", format!("minprice ({lo}) must not be greater than maxprice ({hi})."));
            }
        }
        let paging = if q.contains("cursor") {
            if q.contains("page") {
                p.error("cursor", "Use either page or cursor, not both.");
            }
            let size = PageRequest::parse_into(&mut p).size;
            let after = match q.get("cursor") {
                None => None,
                Some(raw) => match Cursor::decode(raw) {
                    Some(c) if c.o != ordering_name => {
                        p.error("cursor", "This cursor belongs to another ordering.");
                        None
                    }
                    Some(c) if c.i >= 1 && key_in_range(ordering.column, c.k) => Some(c),
                    Some(_) => {
                        p.error("cursor", "Invalid cursor.");
                        None
                    }
                    None => {
                        p.error("cursor", "Invalid cursor.");
                        None
                    }
                },
            };
            HousePaging::Cursor { after, size }
        } else {
            let page = PageRequest::parse_into(&mut p);
            if page.page.saturating_mul(page.size) > max_depth {
                p.error(
                    "page",
                    format!(
                        "page x size must not exceed {max_depth}; read deeper results with keyset paging: \
                         start with cursor= (empty) and follow the next links."
                    ),
                );
            }
            HousePaging::Page(page)
        };
        p.finish()?;
        Ok(HouseFilter {
            title,
            min_price,
            max_price,
            city,
            district,
            house_type,
            estate,
            ordering,
            ordering_name,
            paging,
        })
    }
}

impl HouseFilter {
    /// The filter alone, normalized: the key of its count.
    pub fn count_key(&self) -> String {
        format!(
            "t={:?};lo={:?};hi={:?};c={:?};d={:?};ty={:?};e={:?}",
            self.title, self.min_price, self.max_price, self.city, self.district, self.house_type, self.estate
        )
    }

    /// The ordering and the paging (appended to [`Self::count_key`] for a page's key).
    pub fn page_key(&self) -> String {
        format!("o={};{:?}", self.ordering_name, self.paging)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estate(qs: &str) -> Result<EstateFilter, Invalid> {
        EstateFilter::parse(&QueryMap::parse(qs).unwrap())
    }

    #[test]
    fn estates_filter_rejects_min_above_max() {
        let Err(Invalid::Fields(fields)) = estate("minhot=10&maxhot=5") else { panic!() };
        assert!(fields.contains_key("minhot"));
    }

    #[test]
    fn estates_filter_accepts_equal_bounds_and_known_orderings() {
        let f = estate("minhot=5&maxhot=5&ordering=-hot&name=%E9%94%A6").unwrap();
        assert_eq!((f.min_hot, f.max_hot), (Some(5), Some(5)));
        assert_eq!(f.ordering, Ordering { column: EstateColumn::Hot, descending: true });
        assert_eq!(f.name.as_deref(), Some("锦"));
    }

    #[test]
    fn estates_filter_reports_every_bad_field_at_once() {
        let Err(Invalid::Fields(fields)) = estate("minhot=-1&ordering=price&size=101&page=x&dist=0") else { panic!() };
        for f in ["minhot", "ordering", "size", "page", "dist"] {
            assert!(fields.contains_key(f), "missing {f}: {fields:?}");
        }
    }

    #[test]
    fn houses_filter_binds_cursor_to_its_ordering() {
        let c = Cursor { o: "price".into(), k: 1, i: 1, r: false }.encode();
        let q = QueryMap::parse(&format!("ordering=-price&cursor={c}")).unwrap();
        assert!(HouseFilter::parse(&q, 10_000).is_err());
        let q = QueryMap::parse(&format!("ordering=price&cursor={c}")).unwrap();
        assert!(matches!(HouseFilter::parse(&q, 10_000).unwrap().paging, HousePaging::Cursor { after: Some(_), .. }));
    }

    #[test]
    fn houses_filter_refuses_cursor_keys_outside_the_column_range() {
        for (o, k, i) in
            [("price", -1, 1), ("area", u32::MAX as i64 + 1, 1), ("published_at", i64::MAX, 1), ("price", 5, 0)]
        {
            let c = Cursor { o: o.into(), k, i, r: false }.encode();
            let q = QueryMap::parse(&format!("ordering={o}&cursor={c}")).unwrap();
            let Err(Invalid::Fields(fields)) = HouseFilter::parse(&q, 10_000) else { panic!("{o} {k} {i}") };
            assert!(fields.contains_key("cursor"));
        }
    }

    #[test]
    fn houses_filter_bounds_page_depth_and_points_at_the_cursor() {
        let h = |qs: &str| HouseFilter::parse(&QueryMap::parse(qs).unwrap(), 10_000);
        assert!(h("page=500&size=20").is_ok());
        let Err(Invalid::Fields(fields)) = h("page=501&size=20") else { panic!() };
        assert!(fields["page"].join(" ").contains("cursor"), "{fields:?}");
        assert!(HouseFilter::parse(&QueryMap::parse("page=3&size=20").unwrap(), 40).is_err());
    }

    #[test]
    fn cache_keys_ignore_parameter_order_and_ordering_changes_only_the_page_key() {
        let a = estate("minhot=100&dist=9&ordering=-hot&page=2").unwrap();
        let b = estate("page=2&ordering=-hot&dist=9&minhot=100&name=").unwrap();
        assert_eq!((a.count_key(), a.page_key()), (b.count_key(), b.page_key()));
        let c = estate("dist=9&minhot=100&page=2").unwrap();
        assert_eq!(a.count_key(), c.count_key());
        assert_ne!(a.page_key(), c.page_key());
        assert_ne!(a.count_key(), estate("dist=9&minhot=101").unwrap().count_key());
        // A name cannot impersonate another field.
        assert_ne!(estate("name=x%22%3Blo%3D").unwrap().count_key(), estate("name=x").unwrap().count_key());
        let h = |qs: &str| HouseFilter::parse(&QueryMap::parse(qs).unwrap(), 10_000).unwrap();
        assert_eq!(h("district=9&ordering=-price").count_key(), h("ordering=price&district=9").count_key());
        assert_ne!(h("district=9&ordering=-price").page_key(), h("ordering=price&district=9").page_key());
        assert_ne!(h("district=9").count_key(), h("city=9").count_key());
    }

    #[test]
    fn houses_filter_rejects_overlong_title() {
        let q = QueryMap::parse(&format!("title={}", "a".repeat(101))).unwrap();
        assert!(HouseFilter::parse(&q, 10_000).is_err());
    }
}
