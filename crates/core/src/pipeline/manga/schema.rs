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
                "additionalProperties": {
                    "type": "array",
                    "items": { "type": ["string", "number", "boolean"], "description": "A value the field may take instead." }
                }
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
            "sfx": { "type": "string", "description": "A sound effect (擬音) to draw, in the story's language." },
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

fn point() -> Value {
    json!({ "type": "object", "required": ["x", "y"], "properties": { "x": fraction(), "y": fraction() } })
}

/// Phase 5: the panels' images.
pub fn art() -> Value {
    let image = json!({
        "type": "object",
        "required": ["asset_id"],
        "properties": {
            "asset_id": text(), "task_id": text(), "model": text(), "prompt": text(),
            "source": { "type": "string", "enum": ["generated", "simplified", "placeholder", "reused"] },
            "width": { "type": ["integer", "null"] }, "height": { "type": ["integer", "null"] },
        }
    });
    json!({
        "type": "object",
        "required": ["panels"],
        "properties": {
            "panels": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "asset_id", "source"],
                    "properties": {
                        "id": { "type": "string", "description": "The panel's id (p1-2)." },
                        "page": { "type": "integer", "minimum": 1 },
                        "asset_id": text(),
                        "task_id": text(),
                        "model": text(),
                        "prompt": text(),
                        "source": {
                            "type": "string",
                            "enum": ["generated", "simplified", "placeholder", "reused"],
                            "description": "Drawn by the model, by the model from a simplified prompt after a failure, a labelled placeholder after both failed, or an alike scene's image reused (the scene cache)."
                        },
                        "width": { "type": ["integer", "null"] },
                        "height": { "type": ["integer", "null"] },
                        "reused": {
                            "type": "object",
                            "properties": { "score": { "type": "number" }, "method": text() }
                        },
                        "fallback": { "type": "object", "properties": { "reasons": { "type": "array", "items": text() } } },
                        "crop": frame(),
                        "variants": { "type": "array", "items": image },
                        "regenerate": {
                            "type": "object",
                            "description": "Set by feedback: the panel is drawn again (with this seed or these words).",
                            "properties": { "seed": { "type": "integer" }, "words": text() }
                        }
                    }
                }
            }
        }
    })
}

/// Phase 6: balloons, sound effects and effect lines, page by page.
pub fn lettering() -> Value {
    json!({
        "type": "object",
        "required": ["pages"],
        "properties": {
            "pages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["number", "balloons"],
                    "properties": {
                        "id": text(),
                        "number": { "type": "integer", "minimum": 1 },
                        "image": {
                            "type": "object",
                            "description": "The lettered page as drawn in this phase.",
                            "properties": { "asset_id": text(), "task_id": text() }
                        },
                        "balloons": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id", "kind", "text", "frame"],
                                "properties": {
                                    "id": text(),
                                    "panel": text(),
                                    "line": text(),
                                    "speaker": { "type": ["string", "null"] },
                                    "kind": { "type": "string", "enum": ["speech", "thought", "shout", "whisper", "narration"] },
                                    "text": { "type": "string", "minLength": 1 },
                                    "frame": frame(),
                                    "tail": { "oneOf": [point(), { "type": "null" }] },
                                    "vertical": { "type": "boolean" },
                                    "font_size": { "type": "number", "exclusiveMinimum": 0, "maximum": 0.2, "description": "A fraction of the page's width." },
                                    "bold": { "type": "boolean" },
                                    "cross_border": { "type": "boolean", "description": "The direction lets it cross its panel's border." },
                                    "fitted_font_size": { "type": "number" },
                                    "overflow": { "type": "boolean", "description": "The text did not fit even at the smallest size." }
                                }
                            }
                        },
                        "effects": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id", "kind", "panel"],
                                "properties": {
                                    "id": text(),
                                    "kind": { "type": "string", "enum": ["sfx", "speed_lines", "focus_lines"] },
                                    "panel": text(),
                                    "text": text(),
                                    "frame": frame(),
                                    "angle": { "type": "number" },
                                    "center": point()
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// Phase 7: the quality report and the book.
pub fn book() -> Value {
    json!({
        "type": "object",
        "properties": {
            "pdf": text(), "cbz": text(), "task_id": text(),
            "pages": { "type": "array", "items": text() },
            "page_count": { "type": "integer" },
            "right_to_left": { "type": "boolean" }
        }
    })
}

pub fn report() -> Value {
    json!({
        "type": "object",
        "required": ["problems"],
        "properties": {
            "checked_pages": { "type": "integer" },
            "problems": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kind", "page", "element_id", "message"],
                    "properties": {
                        "kind": { "type": "string", "enum": ["text_overflow", "balloon_overlap", "balloon_over_face", "reading_order", "crosses_border", "fallback_panel", "low_contrast"] },
                        "page": { "type": "integer" },
                        "element_id": { "type": "string", "description": "The element path feedback fixes it at." },
                        "message": text()
                    }
                }
            }
        }
    })
}
