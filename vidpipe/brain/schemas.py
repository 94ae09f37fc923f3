"""What the orchestrator asks and what it is told: one pydantic model per kind of call.

Each reply model (SceneReading, SegmentReading, GenerationDraft, Review) is sent to Gemini as
the `response_schema` of the call, and the offline planner fills the very same models, so
the rest of the pipeline never knows which planner answered except through `Answer.planner`.
Reply models carry no schema_version of their own (a language model should not have to
echo one); the `Answer` envelope that wraps them, and that lands in metadata and the memory
state, does. Bounds (ge/le) are part of the schema: a reply outside them is a
schema-violating reply and is retried like a malformed one.
"""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1


# ---------------------------------------------------------------------------- scene

class LightSource(BaseModel):
    role: Literal["key", "fill", "rim", "ambient", "practical"] = Field(
        description="key = the main light that casts the shadows")
    direction: Literal["left", "right", "top", "front", "back", "below"] = Field(
        description="where the light comes from, as seen in the frame")
    azimuth_deg: float = Field(ge=-180.0, le=180.0, description=(
        "direction in the image plane: 0 = from the right, 90 = from the top, 180 = from the "
        "left, -90 = from below"))
    colour_temperature_k: float = Field(ge=1000.0, le=25000.0)
    hardness: float = Field(ge=0.0, le=1.0, description="0 = soft/diffuse, 1 = hard shadows")
    intensity: float = Field(ge=0.0, le=1.0, description="relative to the other sources")


class FocalPoint(BaseModel):
    x: float = Field(ge=0.0, le=1.0, description="fraction of the width")
    y: float = Field(ge=0.0, le=1.0, description="fraction of the height")
    weight: float = Field(ge=0.0, le=1.0)
    label: str = Field(description="what draws the eye there")


class Framing(BaseModel):
    shot: Literal["wide", "medium", "close"]
    angle: Literal["eye level", "high", "low"]
    horizon: float = Field(ge=-1.0, le=2.0, description="row of the horizon, fraction of height")


class ControlStrengths(BaseModel):
    """Weights of the conditioning signals of a generation, each 0..1."""

    identity: float = Field(ge=0.0, le=1.0, description=(
        "IP-Adapter weight of the try-on image: face and garment fidelity"))
    scene: float = Field(ge=0.0, le=1.0, description="IP-Adapter weight of the scene photo")
    depth: float = Field(ge=0.0, le=1.0, description="ControlNet depth strength (grounding)")
    relight: float = Field(ge=0.0, le=1.0, description=(
        "how strongly the person is relit to the scene's light"))
    denoise: float = Field(ge=0.0, le=1.0, description="img2img denoise of the compositing pass")


class SceneReading(BaseModel):
    """A scene photo read for compositing: its light, what draws the eye, mood and framing,
    and the prompts and strengths that place a person in it."""

    light_sources: list[LightSource] = Field(min_length=1)
    lighting_condition: str = Field(description=(
        "one line for the memory state, e.g. 'warm (3200 K) soft light from the left'"))
    focal_points: list[FocalPoint]
    mood: str
    framing: Framing
    camera_angle: str = Field(description="one line, e.g. 'medium shot, eye level'")
    positive_prompt: str = Field(description="compositing prompt for Flux/SDXL")
    negative_prompt: str
    strengths: ControlStrengths


# ---------------------------------------------------------------------------- segment

class SegmentReading(BaseModel):
    """What a stretch of speech asks of the body and face."""

    energy: float = Field(ge=0.0, le=1.0, description="vocal energy of the segment")
    emotion: str = Field(description="one or two words, e.g. 'calm', 'excited'")
    action: str = Field(description="what the person does, e.g. 'speaking directly to camera'")
    gesture_intensity: float = Field(ge=0.0, le=1.0, description=(
        "how much head, shoulders and hands move: 0 still, 1 very animated"))


# ---------------------------------------------------------------------------- generation

class GenerationDraft(BaseModel):
    """The creative part of a segment's generation arguments, as a planner writes it. Seed
    and reference images are not the planner's to choose: the loop adds them."""

    positive_prompt: str
    negative_prompt: str
    strengths: ControlStrengths
    gesture_intensity: float = Field(ge=0.0, le=1.0)
    expression: str = Field(description="facial expression to hold, e.g. 'warm smile'")


class ReferenceImages(BaseModel):
    """The originals every generation is anchored to, never a previously generated frame
    (architecture notes, section 3: reference anchoring)."""

    identity: str = Field(description="the original try-on image (person in the garment)")
    scene: str = Field(description="the original scene photo")
    person: str | None = Field(default=None, description="the original person photo")


class GenerationArgs(BaseModel):
    """Everything one render attempt of one segment is given."""

    schema_version: int = SCHEMA_VERSION
    segment: str
    attempt: int = Field(ge=1)
    seed: int
    references: ReferenceImages
    positive_prompt: str
    negative_prompt: str
    strengths: ControlStrengths
    gesture_intensity: float = Field(ge=0.0, le=1.0)
    expression: str
    planner: str


# ---------------------------------------------------------------------------- review

class Adjustments(BaseModel):
    """What to change for the next attempt: deltas added to the strengths (clamped to 0..1),
    words appended to the prompts, and whether to keep the seed."""

    identity: float = Field(default=0.0, ge=-0.5, le=0.5)
    scene: float = Field(default=0.0, ge=-0.5, le=0.5)
    depth: float = Field(default=0.0, ge=-0.5, le=0.5)
    relight: float = Field(default=0.0, ge=-0.5, le=0.5)
    denoise: float = Field(default=0.0, ge=-0.5, le=0.5)
    gesture_intensity: float = Field(default=0.0, ge=-0.5, le=0.5)
    add_positive: str = ""
    add_negative: str = ""
    keep_seed: bool = False

    def is_empty(self) -> bool:
        return self == Adjustments()


class Review(BaseModel):
    """A judgement of one render attempt against the references."""

    passed: bool
    reasons: list[str] = Field(description="what is wrong (empty when passed)")
    adjustments: Adjustments


# ---------------------------------------------------------------------------- envelope

CallKind = Literal["scene", "segment", "generation", "review"]
R = TypeVar("R", bound=BaseModel)


class Usage(BaseModel):
    prompt_tokens: int = 0
    output_tokens: int = 0  # candidates, billed as output
    thoughts_tokens: int = 0  # thinking, billed as output too
    total_tokens: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(**{k: getattr(self, k) + getattr(other, k) for k in type(self).model_fields})


class Answer(BaseModel, Generic[R]):
    """One planner call's reply with who answered, what it cost and what went wrong."""

    schema_version: int = SCHEMA_VERSION
    call: CallKind
    planner: str  # "gemini" or "offline": who produced `reply`
    model: str | None = None  # the model that was asked (None for the offline planner)
    reply: R
    requests: int = 0  # HTTP requests made (0 offline)
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None  # estimate from list prices; None if the price is unknown
    seconds: float = 0.0
    fell_back: bool = False
    warning: str | None = None
    errors: list[str] = Field(default_factory=list)  # one line per failed request

    def metadata(self) -> dict:
        """Small facts for Dagster metadata (flat, JSON-safe)."""
        out = {f"{self.call}_planner": self.planner, f"{self.call}_requests": self.requests,
               f"{self.call}_tokens": self.usage.total_tokens,
               f"{self.call}_seconds": round(self.seconds, 3)}
        if self.model:
            out[f"{self.call}_model"] = self.model
        if self.cost_usd is not None:
            out[f"{self.call}_cost_usd"] = round(self.cost_usd, 6)
        if self.warning:
            out[f"{self.call}_warning"] = self.warning
        return out

    def note(self) -> dict:
        """What the memory state keeps of a call: who answered and at what cost."""
        return {"planner": self.planner, "model": self.model, "requests": self.requests,
                "tokens": self.usage.total_tokens, "cost_usd": self.cost_usd,
                "fell_back": self.fell_back, "warning": self.warning}
