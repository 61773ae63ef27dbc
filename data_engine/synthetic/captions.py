"""Plain-language facts of a video and its annotations in the HIVAU and FG-CLIP formats."""

from __future__ import annotations

from typing import Any

from data_engine.synthetic.layout import Layout
from data_engine.synthetic.plans import RenderedVideo, VideoPlan
from vigil.core.schemas import ANOMALY_TYPES


def _where(layout: Layout, x: float, z: float) -> str:
    if layout.keep_out.contains(x, z):
        return "inside the hatched keep-out area"
    if layout.loiter.contains(x, z, 0.3):
        return "in front of the kiosk"
    cam = layout.camera
    u, v = cam.project(x, z)
    horiz = "left" if u < cam.width / 3 else "right" if u > 2 * cam.width / 3 else "middle"
    depth = "near the camera" if z < 11 else "on the far side of the plaza" if z > 16 else "in the middle of the plaza"
    return f"{depth}, {'toward the ' + horiz if horiz != 'middle' else 'at the centre'}"


def _person(looks: dict[str, Any]) -> str:
    return f"a person in a {looks['top']} top and {looks['bottom']} trousers"


def video_facts(plan: VideoPlan, layout: Layout, events: list[tuple[float, float, str]]) -> dict[str, Any]:
    """Plain-language facts of the video, the raw material for captions."""
    passers = [a for a in plan.actors if a.kind == "person" and a.t_end > 0 and a.t_start < plan.duration]
    cars = [a for a in plan.actors if a.kind == "car" and a.t_end > 0 and a.t_start < plan.duration]
    facts: dict[str, Any] = {
        "n_passers": len(passers),
        "n_cars": len(cars),
        "passers": [_person(a.looks) for a in passers[:6]],
        "car_colours": [a.looks["colour"] for a in cars[:4]],
    }
    if plan.anomaly and events:
        an = plan.anomaly
        start, end, kind = events[0]
        who = an.actors[an.key_actors[0]]
        facts.update(kind=kind, start=start, end=end)
        if who.kind == "person":
            facts["actor"] = _person(who.looks)
            x, z = who.position(start)
            facts["where"] = _where(layout, x, z)
        elif who.kind == "car":
            facts["actor"] = f"a {who.looks['colour']} car"
            x, z = who.position(0.5 * (start + end))
            facts["where"] = _where(layout, x, z)
        else:
            owner = an.actors[0]
            facts["actor"] = f"a {who.looks['colour']} bag"
            facts["owner"] = _person(owner.looks)
            x, z = who.position(start)
            facts["where"] = _where(layout, x, z)
        if kind == "fighting":
            facts["actor"] = f"{_person(an.actors[0].looks)} and {_person(an.actors[1].looks)}"
        facts.update(an.facts)
    return facts


ANALYSIS = {
    "running": "Sprinting through a plaza where people normally walk suggests flight, pursuit or an emergency, so the sudden high speed departs from the usual pedestrian flow.",
    "falling": "A person who collapses and stays down may be injured or unwell and needs help; people normally keep walking through the plaza.",
    "fighting": "Two people striking and grappling with each other is violent behaviour that threatens their safety and that of passers-by.",
    "loitering": "Lingering for a long time at the kiosk without a clear purpose is unusual here, where people normally pass through, and can precede theft or tampering.",
    "intrusion": "The hatched area around the utility cabinet is off limits, so entering it is a breach of a restricted zone.",
    "vehicle": "The plaza is a pedestrian area; a car driving across it endangers the people walking there.",
    "abandoned_object": "A bag left behind in a public place by someone who walks away is a potential security threat until it is checked.",
}


def _clip_captions(facts: dict[str, Any]) -> list[tuple[float, float, str]]:
    """Two or three phases of the anomaly, each with a caption."""
    s, e, kind = facts["start"], facts["end"], facts["kind"]
    actor, where = facts["actor"], facts["where"]
    mid = round(s + (e - s) / 2, 3)
    if kind == "running":
        return [(s, mid, f"{actor.capitalize()} who was walking breaks into a run {where}."),
                (mid, e, f"The person sprints across the plaza toward the {facts.get('to', 'far')} edge and leaves the view.")]
    if kind == "falling":
        f = round(min(e, s + 1.5), 3)
        return [(s, f, f"{actor.capitalize()} suddenly falls to the ground {where}."),
                (f, e, "The person lies motionless on the paving and does not get up.")]
    if kind == "fighting":
        return [(s, mid, f"{actor.capitalize()} meet {where} and start hitting each other."),
                (mid, e, "The two people keep grappling and throwing punches, moving erratically.")]
    if kind == "loitering":
        return [(s, mid, f"{actor.capitalize()} stops {where} and stands around."),
                (mid, e, "The person keeps pacing slowly back and forth at the kiosk for a long time.")]
    if kind == "intrusion":
        return [(s, mid, f"{actor.capitalize()} steps over the marking into the hatched keep-out area."),
                (mid, e, "The person stands by the utility cabinet inside the restricted area, then walks out.")]
    if kind == "vehicle":
        return [(s, mid, f"{actor.capitalize()} drives onto the pedestrian plaza from the {facts.get('from', 'side')}."),
                (mid, e, f"The car crosses the plaza {where} among the pedestrians and drives off.")]
    f = round(min(e, s + 3.0), 3)
    return [(s, f, f"{facts.get('owner', 'A person').capitalize()} puts {actor} down {where} and walks away."),
            (f, e, f"{actor.capitalize()} stays on the ground unattended; nobody comes back for it.")]


def hivau_entry(video: RenderedVideo) -> dict[str, Any]:
    """The video's ground truth in the HIVAU raw annotation format."""
    facts = video.facts
    duration = round(video.n_frames / video.fps, 3)
    passers = facts["passers"]
    people = ", ".join(passers[:3]) if passers else "nobody"
    if not video.events:
        half = round(duration / 2, 3)
        parts = [(0.0, half), (half, duration)]
        captions = [
            f"Pedestrians walk through the plaza, including {people}.",
            f"People keep passing by at a normal pace and {facts['n_cars']} cars drive along the road behind the plaza.",
        ]
        desc_e = [
            f"The video shows ordinary activity: {captions[0][0].lower() + captions[0][1:]}",
            f"The video shows ordinary activity: {captions[1][0].lower() + captions[1][1:]}",
        ]
        judgement = "No anomaly exists in the video."
        video_desc = (
            f"The camera watches a paved plaza with a kiosk and a road behind it. {facts['n_passers']} people walk "
            f"through at a normal pace and {facts['n_cars']} cars pass on the road, with no unusual activity from start to end."
        )
        return {
            "n_frames": video.n_frames, "fps": video.fps, "label": [],
            "events": [[a, b] for a, b in parts],
            "clips": [[[a, b]] for a, b in parts],
            "clips_caption": [[c] for c in captions],
            "events_summary": [f"{judgement} {d}" for d in desc_e],
            "events_summary_split": [{"judgement": judgement, "description": d} for d in desc_e],
            "video_summary": f"{judgement} {video_desc}",
            "video_summary_split": {"judgement": judgement, "description": video_desc},
        }
    start, end, kind = video.events[0]
    name = ANOMALY_TYPES[kind]
    phases = _clip_captions(facts)
    description = f"The anomaly event is {facts['actor']} " + {
        "running": f"suddenly running at high speed across the plaza {facts['where']}",
        "falling": f"falling to the ground {facts['where']} and staying down without moving",
        "fighting": f"fighting {facts['where']}, hitting and pushing each other",
        "loitering": "lingering in front of the kiosk for a long time, pacing slowly without moving on",
        "intrusion": "entering the hatched keep-out area around the utility cabinet",
        "vehicle": f"driving across the pedestrian plaza {facts['where']}",
        "abandoned_object": f"left {facts['where']} by its owner, who walks away",
    }[kind]
    analysis = ANALYSIS[kind]
    judgement_e = f"An anomaly exists, specifically, the anomaly is named {name}."
    judgement_v = f"An anomaly exists, specifically named {name}."
    video_desc = (
        f"{description}. Before it, people walk through the plaza normally; the event lasts from "
        f"{start:.1f} s to {end:.1f} s of the video"
    )
    return {
        "n_frames": video.n_frames, "fps": video.fps, "label": [name],
        "events": [[start, end]],
        "clips": [[[a, b] for a, b, _c in phases]],
        "clips_caption": [[c for _a, _b, c in phases]],
        "events_summary": [f'An anomaly exists, specifically, the anomaly is named "{name}". {description}. The basis for judging this anomaly is that {analysis[0].lower()}{analysis[1:]}'],
        "events_summary_split": [{"judgement": judgement_e, "description": description, "analysis": analysis}],
        "video_summary": f'An anomaly exists, specifically named "{name}". {video_desc}. The basis for judging this anomaly is that {analysis[0].lower()}{analysis[1:]}',
        "video_summary_split": {"judgement": judgement_v, "description": video_desc, "analysis": analysis},
    }


def fgclip_entry(video: RenderedVideo) -> dict[str, Any]:
    """The video's ground truth in the FG-CLIP format (global caption, regions with boxes)."""
    hv = hivau_entry(video)
    duration = round(video.n_frames / video.fps, 3)
    entry: dict[str, Any] = {"video": video.path, "global_caption": hv["video_summary_split"]["description"]}
    if not video.events:
        entry.update(region_captions=[], box_infos=[], timestamps=[[0.0, duration]])
        return entry
    start, end, _kind = video.events[0]
    entry.update(
        region_captions=[hv["events_summary_split"][0]["description"]],
        box_infos=[[{"frame": b["frame"], "bbox": b["bbox"]} for b in video.boxes]],
        timestamps=[[start, end]],
    )
    return entry
