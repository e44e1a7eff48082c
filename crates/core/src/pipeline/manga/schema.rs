//! The JSON Schemas of the manga document's parts, one per phase. They are what a
//! text model is asked to follow, what a person's change must keep, and what the
//! OpenAPI document publishes.

use serde_json::{Value, json};

fn text() -> Value {
    json!({ "type": "string" })
}

fn fraction() -> Value {
    json!({ "type": "number", "minimum": 0, "maximum": 1 })
}

/// Phase 1: concept and world.
pub fn concept() -> Value {
    json!({
        "type": "object",
        "required": ["title", "theme", "genre", "target_readers", "world", "tone", "page_count"],
        "properties": {
            "title": text(),
            "theme": text(),
            "genre": text(),
            "target_readers": text(),
            "world": text(),
            "tone": text(),
            "page_count": { "type": "integer", "minimum": 1, "maximum": 200 },
            "reading_direction": { "type": "string", "enum": ["rtl", "ltr"] },
            "language": { "type": "string", "description": "The story's language (ja, zh, en, ...)." },
            "key_scenes": { "type": "array", "items": text() },
            "alternatives": {
                "type": "object",
                "description": "Other choices a person may select instead (selection feedback).",
                "additionalProperties": { "type": "array" }
            }
        }
    })
}

/// Phase 2: characters (their sheets are added when drawn).
pub fn characters() -> Value {
    json!({
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "required": ["id", "name", "role", "appearance", "personality", "speech_style"],
            "properties": {
                "id": { "type": "string", "description": "c1, c2, … (given when missing)" },
                "name": { "type": "string", "minLength": 1 },
                "role": text(),
                "age": text(),
                "appearance": text(),
                "personality": text(),
                "speech_style": text(),
                "mentions": { "type": "integer", "minimum": 0 },
                "aliases": {
                    "type": "array",
                    "description": "Other names the story uses for the character (a renamed character's old name).",
                    "items": { "type": "string" }
                },
                "sheets": {
                    "type": "array",
                    "description": "The character's reference images (asset ids), made in this phase.",
                    "items": {
                        "type": "object",
                        "required": ["asset_id"],
                        "properties": { "asset_id": text(), "task_id": text(), "model": text() }
                    }
                }
            }
        }
    })
}

/// Phase 3: plot and structure.
pub fn plot() -> Value {
    json!({
        "type": "object",
        "required": ["acts", "scenes"],
        "properties": {
            "acts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["number", "title", "scenes"],
                    "properties": {
                        "number": { "type": "integer", "minimum": 1 },
                        "title": text(),
                        "summary": text(),
                        "scenes": { "type": "array", "items": text() }
                    }
                }
            },
            "scenes": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["id", "setting", "time_of_day", "characters", "emotion", "summary"],
                    "properties": {
                        "id": { "type": "string", "description": "s1, s2, … (given when missing)" },
                        "title": text(),
                        "setting": text(),
                        "time_of_day": text(),
                        "characters": { "type": "array", "items": text() },
                        "emotion": text(),
                        "summary": text(),
                        "importance": fraction(),
                        "pages": { "type": "array", "items": { "type": "integer", "minimum": 1 } },
                        "dialogue": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["text"],
                                "properties": { "speaker": { "type": ["string", "null"] }, "text": text() }
                            }
                        }
                    }
                }
            }
        }
    })
}

fn frame() -> Value {
    json!({
        "type": "object",
        "description": "Fractions of the page: x and y from the top left, w and h.",
        "required": ["x", "y", "w", "h"],
        "properties": { "x": fraction(), "y": fraction(), "w": fraction(), "h": fraction() }
    })
}

/// Phase 4: the name (storyboard).
pub fn pages() -> Value {
    json!({
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "required": ["number", "panels"],
            "properties": {
                "number": { "type": "integer", "minimum": 1 },
                "reading_flow": { "type": "string", "enum": ["rtl", "ltr"] },
                "panels": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 9,
                    "items": {
                        "type": "object",
                        "required": ["scene", "size", "direction", "dialogue"],
                        "properties": {
                            "id": text(),
                            "scene": text(),
                            "order": { "type": "integer", "minimum": 1 },
                            "size": { "type": "string", "enum": ["large", "medium", "small"] },
                            "emphasis": { "type": "boolean" },
                            "frame": frame(),
                            "direction": direction(),
                            "dialogue": { "type": "array", "items": line() }
                        }
                    }
                }
            }
        }
    })
}

/// The schema of the parts, as one object (what a phase's text model answers).
pub fn wrapped(key: &str, part: Value) -> Value {
    json!({ "type": "object", "required": [key], "properties": { key: part } })
}

fn direction() -> Value {
    json!({
        "type": "object",
        "properties": {
            "camera_angle": { "type": "string", "description": "俯瞰 (high angle), アオリ (low angle), 正面 (eye level), ..." },
            "shot": { "type": "string", "description": "close-up, bust shot, full shot, long shot, ..." },
            "placement": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["character", "depth"],
                    "properties": { "character": text(), "depth": { "type": "string", "enum": ["fore", "mid", "back"] } }
                }
            },
            "expressions": text(),
            "poses": text(),
            "background": text(),
            "effect_lines": text(),
            "lighting": text(),
            "mood": text()
        }
    })
}

fn line() -> Value {
    json!({
        "type": "object",
        "required": ["text", "balloon"],
        "properties": {
            "id": text(),
            "speaker": { "type": ["string", "null"] },
            "text": text(),
            "balloon": { "type": "string", "enum": ["speech", "thought", "shout", "whisper", "narration"] },
            "order": { "type": "integer", "minimum": 1 },
            "position": {
                "type": "object",
                "required": ["x", "y"],
                "properties": { "x": fraction(), "y": fraction() }
            }
        }
    })
}
