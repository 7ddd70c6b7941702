//! DOT statements (§2.3) into a flat list of task declarations and edges: subgraphs are
//! flattened, ports, edge attributes and `node`/`edge`/`graph` defaults are ignored.

use std::collections::{HashMap, HashSet};

use super::DotError;
use super::attr::{decode_id, decode_value};
use super::lexer::{Keyword, Kind, Token, tokenize};
use crate::error::quoted;

/// One `key=value` of a node statement, decoded (§2.4); offsets point at the raw tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawAttr {
    pub key: String,
    pub key_start: usize,
    pub value: String,
    pub value_start: usize,
    pub value_end: usize,
}

/// A task name as first mentioned; `attrs` is `None` until a node statement declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawNode {
    pub name: String,
    pub first_mention: usize,
    pub declared_at: Option<usize>,
    pub attrs: Vec<RawAttr>,
}

/// An explicit edge between node numbers; `at` is the offset of the downstream name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawEdge {
    pub from: usize,
    pub to: usize,
    pub at: usize,
}

/// Nodes numbered by first mention, edges without repeats in order of appearance.
#[derive(Debug, Default)]
pub(crate) struct RawGraph {
    pub nodes: Vec<RawNode>,
    pub edges: Vec<RawEdge>,
}

/// Parses DOT text: statements, or one optional `[strict] (di)graph [ID] { … }` wrapper.
pub(crate) fn parse(src: &str) -> Result<RawGraph, DotError> {
    let tokens = tokenize(src)?;
    let mut p = Parser {
        src,
        tokens,
        pos: 0,
        graph: RawGraph::default(),
        by_name: HashMap::new(),
        edge_set: HashSet::new(),
        mentions: Vec::new(),
        depth: 0,
    };
    p.document()?;
    Ok(p.graph)
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    graph: RawGraph,
    by_name: HashMap<String, usize>,
    edge_set: HashSet<(usize, usize)>,
    /// Every node mention in order, so a subgraph knows its members.
    mentions: Vec<usize>,
    /// How many `{ … }` blocks enclose the current statement (the parser recurses per block).
    depth: usize,
}

/// Most `{ … }` blocks inside one another: the parser recurses once per block, and no
/// pipeline needs more than a few.
const MAX_NESTING: usize = 64;

/// Longest task name or attribute key; existing specs use a few dozen bytes at most.
pub(crate) const MAX_NAME_BYTES: usize = 255;

impl Parser<'_> {
    fn peek_kind(&self, ahead: usize) -> Option<Kind> {
        self.tokens.get(self.pos + ahead).map(|t| t.kind)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).copied();
        self.pos += usize::from(t.is_some());
        t
    }

    fn text(&self, t: Token) -> &str {
        &self.src[t.start..t.end]
    }

    /// Offset of the current token, or the end of the text.
    fn here(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map_or(self.src.len(), |t| t.start)
    }

    fn unexpected(&self, expected: &str) -> DotError {
        let found = match self.tokens.get(self.pos) {
            Some(t) => quoted(self.text(*t)),
            None => "end of text".to_owned(),
        };
        DotError::new(self.here(), format!("expected {expected}, found {found}"))
    }

    fn expect(&mut self, kind: Kind, expected: &str) -> Result<Token, DotError> {
        match self.tokens.get(self.pos).copied() {
            Some(t) if t.kind == kind => {
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.unexpected(expected)),
        }
    }

    fn document(&mut self) -> Result<(), DotError> {
        let wrapped = match self.peek_kind(0) {
            Some(Kind::Keyword(Keyword::Strict | Keyword::Digraph)) => true,
            Some(Kind::Keyword(Keyword::Graph)) => {
                self.peek_kind(1) == Some(Kind::LBrace)
                    || (self.peek_kind(1).is_some_and(Kind::is_id)
                        && self.peek_kind(2) == Some(Kind::LBrace))
            }
            _ => false,
        };
        if !wrapped {
            return self.statements(None);
        }
        if self.peek_kind(0) == Some(Kind::Keyword(Keyword::Strict)) {
            self.next();
        }
        match self.peek_kind(0) {
            Some(Kind::Keyword(Keyword::Digraph | Keyword::Graph)) => {
                self.next();
            }
            _ => return Err(self.unexpected("digraph or graph after strict")),
        }
        if self.peek_kind(0).is_some_and(Kind::is_id) {
            self.next();
        }
        self.expect(Kind::LBrace, "{ to open the graph")?;
        self.statements(Some(Kind::RBrace))?;
        self.expect(Kind::RBrace, "} to close the graph")?;
        if self.pos < self.tokens.len() {
            return Err(self.unexpected("nothing after the graph's closing }"));
        }
        Ok(())
    }

    /// Statements up to `end` (not consumed) or the end of the text.
    fn statements(&mut self, end: Option<Kind>) -> Result<(), DotError> {
        loop {
            match self.peek_kind(0) {
                None if end.is_none() => return Ok(()),
                None => return Err(self.unexpected("} to close the block")),
                Some(k) if Some(k) == end => return Ok(()),
                Some(_) => self.statement()?,
            }
            if self.peek_kind(0) == Some(Kind::Semicolon) {
                self.next();
            }
        }
    }

    fn statement(&mut self) -> Result<(), DotError> {
        match self.peek_kind(0) {
            Some(Kind::Keyword(Keyword::Node | Keyword::Edge | Keyword::Graph)) => {
                self.next();
                if self.peek_kind(0) != Some(Kind::LBracket) {
                    return Err(self.unexpected("[ after node/edge/graph"));
                }
                self.attr_lists()?;
                Ok(())
            }
            Some(Kind::Keyword(Keyword::Subgraph) | Kind::LBrace) => {
                let members = self.subgraph()?;
                if self.peek_kind(0) == Some(Kind::EdgeOp) {
                    self.edges(members)?;
                }
                Ok(())
            }
            Some(k) if k.is_id() && self.peek_kind(1) == Some(Kind::Equals) => {
                // A graph attribute `k=v`: accepted and ignored.
                self.next();
                self.next();
                self.value("a value after =")?;
                Ok(())
            }
            Some(k) if k.is_id() => {
                let name_at = self.here();
                let node = self.node_id()?;
                if self.peek_kind(0) == Some(Kind::EdgeOp) {
                    return self.edges(vec![node]);
                }
                if self.peek_kind(0) == Some(Kind::LBracket) {
                    let attrs = self.attr_lists()?;
                    self.declare(node, name_at, attrs)?;
                }
                Ok(())
            }
            _ => Err(self.unexpected("a task name, an edge, or a statement")),
        }
    }

    fn declare(&mut self, node: usize, at: usize, attrs: Vec<RawAttr>) -> Result<(), DotError> {
        let entry = &mut self.graph.nodes[node];
        if entry.declared_at.is_some() {
            return Err(DotError::new(
                at,
                format!("duplicate declaration of task {}", entry.name),
            ));
        }
        entry.declared_at = Some(at);
        entry.attrs = attrs;
        Ok(())
    }

    /// `[k=v …]` lists, one or more; pairs separated by whitespace, `,` or `;`.
    fn attr_lists(&mut self) -> Result<Vec<RawAttr>, DotError> {
        let mut attrs = Vec::new();
        while self.peek_kind(0) == Some(Kind::LBracket) {
            self.next();
            loop {
                match self.peek_kind(0) {
                    Some(Kind::RBracket) => {
                        self.next();
                        break;
                    }
                    Some(k) if k.is_id() => {
                        let key = self.value("an attribute name")?;
                        let name = self.bounded_id(key, "an attribute name")?;
                        if self.peek_kind(0) != Some(Kind::Equals) {
                            return Err(
                                self.unexpected(&format!("= after attribute {}", self.text(key)))
                            );
                        }
                        self.next();
                        let value = self.value("a value after =")?;
                        attrs.push(RawAttr {
                            key: name,
                            key_start: key.start,
                            value: decode_value(value.kind, self.text(value)),
                            value_start: value.start,
                            value_end: value.end,
                        });
                        if matches!(self.peek_kind(0), Some(Kind::Comma | Kind::Semicolon)) {
                            self.next();
                        }
                    }
                    _ => return Err(self.unexpected("an attribute name or ]")),
                }
            }
        }
        Ok(attrs)
    }

    fn value(&mut self, expected: &str) -> Result<Token, DotError> {
        match self.tokens.get(self.pos).copied() {
            Some(t) if t.kind.is_id() => {
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.unexpected(expected)),
        }
    }

    /// A task name with an optional (ignored) port; records the mention.
    fn node_id(&mut self) -> Result<usize, DotError> {
        let tok = self.value("a task name")?;
        let name = self.bounded_id(tok, "a task name")?;
        let node = self.mention(name, tok.start);
        self.mentions.push(node);
        for _ in 0..2 {
            if self.peek_kind(0) == Some(Kind::Colon) {
                self.next();
                self.value("a port name after :")?;
            }
        }
        Ok(node)
    }

    /// A task name or attribute key, decoded; longer than [`MAX_NAME_BYTES`] is an error,
    /// so every message that names one stays short.
    fn bounded_id(&self, tok: Token, what: &str) -> Result<String, DotError> {
        let id = decode_id(tok.kind, self.text(tok));
        if id.len() > MAX_NAME_BYTES {
            return Err(DotError::new(
                tok.start,
                format!("{what} longer than {MAX_NAME_BYTES} bytes: {}", quoted(&id)),
            ));
        }
        Ok(id)
    }

    fn mention(&mut self, name: String, at: usize) -> usize {
        if let Some(&n) = self.by_name.get(&name) {
            return n;
        }
        let n = self.graph.nodes.len();
        self.by_name.insert(name.clone(), n);
        self.graph.nodes.push(RawNode {
            name,
            first_mention: at,
            declared_at: None,
            attrs: Vec::new(),
        });
        n
    }

    /// `{ … }` or `subgraph [ID] { … }`: statements, flattened; returns the nodes mentioned.
    fn subgraph(&mut self) -> Result<Vec<usize>, DotError> {
        if self.peek_kind(0) == Some(Kind::Keyword(Keyword::Subgraph)) {
            self.next();
            if self.peek_kind(0).is_some_and(Kind::is_id) {
                self.next();
            }
        }
        let mark = self.mentions.len();
        if self.depth == MAX_NESTING && self.peek_kind(0) == Some(Kind::LBrace) {
            return Err(DotError::new(
                self.here(),
                format!("blocks nested deeper than {MAX_NESTING}"),
            ));
        }
        self.expect(Kind::LBrace, "{ to open the subgraph")?;
        self.depth += 1;
        self.statements(Some(Kind::RBrace))?;
        self.depth -= 1;
        self.expect(Kind::RBrace, "} to close the subgraph")?;
        // Every task named inside the block is an endpoint when the block is in an edge.
        let mut members = Vec::new();
        for &n in &self.mentions[mark..] {
            if !members.contains(&n) {
                members.push(n);
            }
        }
        Ok(members)
    }

    /// `-> x -> {y z} …` after the first endpoint(s), then ignored attribute lists.
    fn edges(&mut self, mut left: Vec<usize>) -> Result<(), DotError> {
        while self.peek_kind(0) == Some(Kind::EdgeOp) {
            self.next();
            let at = self.here();
            let right = match self.peek_kind(0) {
                Some(Kind::LBrace | Kind::Keyword(Keyword::Subgraph)) => self.subgraph()?,
                Some(k) if k.is_id() => vec![self.node_id()?],
                _ => return Err(self.unexpected("a task name or { after the edge operator")),
            };
            for &from in &left {
                for &to in &right {
                    if from == to {
                        let name = &self.graph.nodes[to].name;
                        return Err(DotError::new(
                            at,
                            format!("self edge {name} -> {name} is not allowed"),
                        ));
                    }
                    if self.edge_set.insert((from, to)) {
                        self.graph.edges.push(RawEdge { from, to, at });
                    }
                }
            }
            left = right;
        }
        if self.peek_kind(0) == Some(Kind::LBracket) {
            self.attr_lists()?;
        }
        Ok(())
    }
}
