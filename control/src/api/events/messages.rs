//! What clients of the session events socket send, parsed and checked, and the server's
//! own messages (welcome, errors) besides the [`SessionEvent`](super::SessionEvent)s.
//!
//! Clients send JSON text frames whose `type` is `auth`, `chat` or `annotation`
//! (`docs/api-events.md`). Nothing a client sends is relayed before [`check_chat`] or
//! [`Annotation::check`] accepted it: annotation coordinates are finite and within the
//! frame (0 to 1), and every size is bounded.

use serde::{Deserialize, Serialize};

use super::Who;

/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 2000;
/// Most points of one freehand shape (`sketch`, `highlight`).
pub const MAX_POINTS: usize = 1000;
/// Longest text of a `text` shape, in characters.
pub const MAX_SHAPE_TEXT_CHARS: usize = 500;
/// Longest shape id, in characters.
pub const MAX_SHAPE_ID_CHARS: usize = 64;
/// Widest stroke, as a fraction of the frame's width.
pub const MAX_STROKE_WIDTH: f64 = 0.1;

/// A message from a client. Not `Debug`: an `auth` message holds a bearer token.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// The first message of a browser: the bearer token.
    Auth {
        /// A staff or customer bearer token.
        token: String,
    },
    /// A chat message for the other participants.
    Chat {
        /// Its text.
        text: String,
    },
    /// A drawing operation.
    Annotation {
        /// What to do.
        op: AnnotationOp,
        /// The shape added, undone or redone.
        #[serde(default)]
        id: Option<String>,
        /// The shape added (`add` only).
        #[serde(default)]
        shape: Option<Shape>,
    },
}

/// Why a client's message is refused (the socket stays open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The `error` code sent back.
    pub error: &'static str,
    /// A sentence for the developer; never repeats what the client sent.
    pub detail: &'static str,
}

impl Refusal {
    fn malformed(detail: &'static str) -> Self {
        Self {
            error: "malformed_message",
            detail,
        }
    }

    fn invalid(detail: &'static str) -> Self {
        Self {
            error: "invalid_message",
            detail,
        }
    }
}

/// Parses a text frame: not JSON, or JSON that is no known message, is `malformed_message`.
pub fn parse(text: &str) -> Result<ClientMessage, Refusal> {
    serde_json::from_str(text).map_err(|error| {
        Refusal::malformed(if error.is_data() {
            "The JSON is not a known message: see docs/api-events.md for each type's fields."
        } else {
            "The frame is not one JSON object."
        })
    })
}

/// Checks a chat text: 1 to [`MAX_CHAT_CHARS`] characters, not only white space.
pub fn check_chat(text: &str) -> Result<(), Refusal> {
    if text.trim().is_empty() {
        return Err(Refusal::invalid("A chat message needs some text."));
    }
    if text.chars().count() > MAX_CHAT_CHARS {
        return Err(Refusal::invalid(
            "A chat message has at most 2000 characters.",
        ));
    }
    Ok(())
}

/// The operations of the drawing protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnotationOp {
    /// Draws `shape` under `id`.
    Add,
    /// Removes the shape `id`.
    Undo,
    /// Draws the shape `id` again after an undo.
    Redo,
    /// Removes every shape.
    Clear,
}

/// The kinds of shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShapeKind {
    /// A freehand line.
    Sketch,
    /// An arrow from the first point to the second.
    Arrow,
    /// A rectangle with two opposite corners.
    Rect,
    /// An ellipse inside the rectangle of two opposite corners.
    Ellipse,
    /// A wide translucent freehand line.
    Highlight,
    /// A label at one point.
    Text,
    /// The video frame is frozen for drawing; no points.
    Freeze,
}

impl ShapeKind {
    /// How many points the kind takes, at least and at most.
    fn point_range(self) -> (usize, usize) {
        match self {
            ShapeKind::Sketch | ShapeKind::Highlight => (1, MAX_POINTS),
            ShapeKind::Arrow | ShapeKind::Rect | ShapeKind::Ellipse => (2, 2),
            ShapeKind::Text => (1, 1),
            ShapeKind::Freeze => (0, 0),
        }
    }
}

/// A coordinate or size as a fraction of the video frame (0 is the left or top edge,
/// 1 the right or bottom edge). Checked finite before it is relayed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Coord(pub f64);

// Equality of finite numbers is an equivalence; `Annotation::check` refuses NaN.
impl Eq for Coord {}

impl Coord {
    fn within(self, low: f64, high: f64) -> bool {
        self.0.is_finite() && self.0 >= low && self.0 <= high
    }
}

/// A point `[x, y]` of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Point(pub Coord, pub Coord);

/// A shape drawn on the video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shape {
    /// What it is.
    pub kind: ShapeKind,
    /// Its points, each within the frame.
    #[serde(default)]
    pub points: Vec<Point>,
    /// `#rrggbb` or `#rrggbbaa`; required except for `freeze`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Stroke width as a fraction of the frame's width; required except for `freeze`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<Coord>,
    /// The label of a `text` shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A checked drawing operation, as relayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation {
    /// What to do.
    pub op: AnnotationOp,
    /// The shape concerned (absent for `clear`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The shape drawn (`add` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<Shape>,
}

impl Annotation {
    /// Checks that the operation carries what it needs and nothing else, and that the
    /// shape is within bounds.
    pub fn check(&self) -> Result<(), Refusal> {
        let needs_id = self.op != AnnotationOp::Clear;
        match (&self.id, needs_id) {
            (Some(id), true) => check_shape_id(id)?,
            (None, false) => {}
            (None, true) => return Err(Refusal::invalid("This operation needs an `id`.")),
            (Some(_), false) => return Err(Refusal::invalid("`clear` takes no `id`.")),
        }
        match (&self.shape, self.op) {
            (Some(shape), AnnotationOp::Add) => shape.check(),
            (None, AnnotationOp::Add) => Err(Refusal::invalid("`add` needs a `shape`.")),
            (Some(_), _) => Err(Refusal::invalid("Only `add` takes a `shape`.")),
            (None, _) => Ok(()),
        }
    }
}

fn check_shape_id(id: &str) -> Result<(), Refusal> {
    let well_formed = !id.is_empty()
        && id.len() <= MAX_SHAPE_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if well_formed {
        Ok(())
    } else {
        Err(Refusal::invalid(
            "A shape `id` is 1 to 64 characters of letters, digits, `-` and `_`.",
        ))
    }
}

impl Shape {
    fn check(&self) -> Result<(), Refusal> {
        let (fewest, most) = self.kind.point_range();
        if self.points.len() < fewest || self.points.len() > most {
            return Err(Refusal::invalid(
                "Wrong number of points for this kind of shape (see docs/api-events.md).",
            ));
        }
        if !self
            .points
            .iter()
            .all(|Point(x, y)| x.within(0.0, 1.0) && y.within(0.0, 1.0))
        {
            return Err(Refusal::invalid(
                "Every coordinate is a number from 0 to 1.",
            ));
        }
        self.check_style()?;
        self.check_text()
    }

    fn check_style(&self) -> Result<(), Refusal> {
        if self.kind == ShapeKind::Freeze {
            return Ok(());
        }
        if !self.color.as_deref().is_some_and(is_hex_color) {
            return Err(Refusal::invalid("`color` is `#rrggbb` or `#rrggbbaa`."));
        }
        match self.width {
            Some(width) if width.within(0.0, MAX_STROKE_WIDTH) && width.0 > 0.0 => Ok(()),
            _ => Err(Refusal::invalid(
                "`width` is a fraction of the frame's width, above 0 and at most 0.1.",
            )),
        }
    }

    fn check_text(&self) -> Result<(), Refusal> {
        match (&self.text, self.kind) {
            (Some(text), ShapeKind::Text) => {
                let chars = text.chars().count();
                if text.trim().is_empty() || chars > MAX_SHAPE_TEXT_CHARS {
                    return Err(Refusal::invalid("A label has 1 to 500 characters."));
                }
                Ok(())
            }
            (None, ShapeKind::Text) => Err(Refusal::invalid("A `text` shape needs `text`.")),
            (Some(_), _) => Err(Refusal::invalid("Only a `text` shape takes `text`.")),
            (None, _) => Ok(()),
        }
    }
}

fn is_hex_color(color: &str) -> bool {
    let Some(digits) = color.strip_prefix('#') else {
        return false;
    };
    (digits.len() == 6 || digits.len() == 8) && digits.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A session as the welcome message describes it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionSummary {
    /// Its id.
    pub id: String,
    /// `waiting`, `active`, `held` or `ended`.
    pub state: &'static str,
}

/// The server's messages that are not session events.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    /// The socket is authenticated; events follow.
    Welcome {
        /// Who the server takes the client for.
        who: &'a Who,
        /// The session listened to.
        session: SessionSummary,
    },
    /// A message of the client was refused; the socket stays open.
    Error {
        /// A stable code: `malformed_message`, `invalid_message`, `rate_limited`,
        /// `unexpected_message`.
        error: &'static str,
        /// A sentence for the developer.
        detail: &'static str,
    },
    /// The socket fell behind and `missed` events were not delivered: fetch the session
    /// to catch up.
    Lagged {
        /// How many.
        missed: u64,
    },
}

impl From<Refusal> for ServerMessage<'_> {
    fn from(refusal: Refusal) -> Self {
        ServerMessage::Error {
            error: refusal.error,
            detail: refusal.detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotation(json: &str) -> Result<(), Refusal> {
        match parse(json)? {
            ClientMessage::Annotation { op, id, shape } => Annotation { op, id, shape }.check(),
            _ => panic!("not an annotation"),
        }
    }

    #[test]
    fn shapes_within_the_frame_pass() {
        let arrow = r##"{"type":"annotation","op":"add","id":"a-1","shape":{"kind":"arrow",
            "points":[[0,0],[1,0.5]],"color":"#ff3b30","width":0.01}}"##;
        assert_eq!(annotation(arrow), Ok(()));
        let label = r##"{"type":"annotation","op":"add","id":"t","shape":{"kind":"text",
            "points":[[0.5,0.5]],"color":"#ffffff80","width":0.02,"text":"this cable"}}"##;
        assert_eq!(annotation(label), Ok(()));
        let freeze = r#"{"type":"annotation","op":"add","id":"f","shape":{"kind":"freeze"}}"#;
        assert_eq!(annotation(freeze), Ok(()));
        assert_eq!(annotation(r#"{"type":"annotation","op":"clear"}"#), Ok(()));
        assert_eq!(
            annotation(r#"{"type":"annotation","op":"undo","id":"a-1"}"#),
            Ok(())
        );
    }

    #[test]
    fn out_of_range_or_incomplete_shapes_are_invalid() {
        let refused = [
            r##"{"type":"annotation","op":"add","id":"a","shape":{"kind":"rect",
                "points":[[0,0],[1.5,1]],"color":"#000000","width":0.01}}"##,
            r##"{"type":"annotation","op":"add","id":"a","shape":{"kind":"rect",
                "points":[[0,0],[-0.1,1]],"color":"#000000","width":0.01}}"##,
            r##"{"type":"annotation","op":"add","id":"a","shape":{"kind":"rect",
                "points":[[0,0]],"color":"#000000","width":0.01}}"##,
            r##"{"type":"annotation","op":"add","id":"a","shape":{"kind":"rect",
                "points":[[0,0],[1,1]],"color":"red","width":0.01}}"##,
            r##"{"type":"annotation","op":"add","id":"a","shape":{"kind":"rect",
                "points":[[0,0],[1,1]],"color":"#000000","width":0}}"##,
            r##"{"type":"annotation","op":"add","id":"a b","shape":{"kind":"freeze"}}"##,
            r##"{"type":"annotation","op":"add","id":"a","shape":{"kind":"text",
                "points":[[0,0]],"color":"#000000","width":0.01}}"##,
            r#"{"type":"annotation","op":"undo"}"#,
            r#"{"type":"annotation","op":"clear","id":"a"}"#,
        ];
        for json in refused {
            assert_eq!(
                annotation(json).map_err(|r| r.error),
                Err("invalid_message")
            );
        }
    }

    #[test]
    fn unknown_fields_types_and_syntax_are_malformed() {
        for json in [
            "not json",
            r#"{"type":"chat"}"#,
            r#"{"type":"chat","text":"hi","from":{"role":"admin"}}"#,
            r#"{"type":"shout","text":"hi"}"#,
            r#"{"type":"annotation","op":"rotate"}"#,
            r##"{"type":"annotation","op":"add","id":"a","shape":{"kind":"rect",
                "points":[[0,0],[1e400,1]],"color":"#000000","width":0.01}}"##,
        ] {
            assert_eq!(
                parse(json).err().map(|r| r.error),
                Some("malformed_message")
            );
        }
    }

    #[test]
    fn chat_length_is_bounded() {
        assert!(check_chat("hello").is_ok());
        assert!(check_chat(" \n ").is_err());
        assert!(check_chat(&"é".repeat(MAX_CHAT_CHARS)).is_ok());
        assert!(check_chat(&"é".repeat(MAX_CHAT_CHARS + 1)).is_err());
    }
}
