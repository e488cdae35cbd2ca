//! The method table: every saliency method's name, label, one-line description, read-out, box
//! rule and looks, in one row each. The CLI's help, the page's and the widget's menus (through
//! the engine's `ready`) and the README's list are all made from [`METHODS`]; adding a method is
//! its code plus one row here.

use std::str::FromStr;

use serde::Serialize;

use crate::closer::CloserOptions;
use crate::error::{Error, Result};
use crate::localize::{BoxOptions, BoxRule};

/// A way of making a saliency map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// max over RGB of |∂S/∂I| (Simonyan et al. 2014).
    Gradient,
    /// Deconvnet backward pass (Zeiler & Fergus 2014).
    Deconvnet,
    /// Guided backpropagation (Springenberg et al. 2015).
    Guided,
    /// Class activation map: `Σ_k w_ck A_k` of the head (Zhou et al. 2016).
    Cam,
    /// Grad-CAM at the head: `ReLU(Σ_k α_k A_k)`, `α_k` = spatial mean of ∂S/∂A_k (Selvaraju et al. 2017).
    GradCam,
    /// Soft feedback gates.
    FeedbackSoft,
    /// Hard feedback gates.
    FeedbackHard,
    /// FSP feedback gates (selective pruning).
    FeedbackFsp,
    /// FR feedback gates (recovering).
    FeedbackFr,
    /// Look-twice feedback gates (log-probability target, trust region), read out as signed contrastive CAM.
    FeedbackTwice,
    /// Look twice, then look closer: the same feedback again on a crop of the box, pasted back
    /// ([`crate::closer`]).
    FeedbackCloser,
}

/// What a method computes per map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Needs {
    /// One forward pass.
    Forward,
    /// One forward and one backward pass.
    Backward,
    /// Feedback: a forward and a backward pass per iteration.
    Feedback,
}

/// One row of the method table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MethodInfo {
    /// The method this row describes.
    pub method: Method,
    /// The name on the command line, in results and in requests (`gradient`, `feedback-soft`, …).
    pub name: &'static str,
    /// The name in menus.
    pub label: &'static str,
    /// What it does, in one sentence for a visitor.
    pub about: &'static str,
    /// What it computes per map.
    pub needs: Needs,
    /// How converged gates become a map (`None` for the baselines, which have no gates).
    pub readout: Option<Readout>,
    /// The box rule and threshold that maximised its box accuracy on the dev photos (docs/RESULTS.md), σ = 4.
    pub boxes: BoxOptions,
    /// How many closer looks it takes, and how.
    pub looks: CloserOptions,
}

/// The name that stands for the default method ([`Method::FEEDBACK`]).
pub const DEFAULT_NAME: &str = "feedback";

const fn peak(threshold: f32) -> BoxOptions {
    BoxOptions { sigma: 4.0, threshold, rule: BoxRule::Peak }
}

const ONE_LOOK: CloserOptions = CloserOptions::ONE_LOOK;

/// Every method, baselines first, in [`Method`]'s order.
pub const METHODS: [MethodInfo; 11] = [
    MethodInfo {
        method: Method::Gradient,
        name: "gradient",
        label: "gradient (Simonyan)",
        about: "How much each pixel changes the class score: the largest absolute ∂score/∂pixel over red, green and blue (Simonyan et al. 2014).",
        needs: Needs::Backward,
        readout: None,
        boxes: peak(0.15),
        looks: ONE_LOOK,
    },
    MethodInfo {
        method: Method::Deconvnet,
        name: "deconvnet",
        label: "deconvnet",
        about: "The same backward pass, but each ReLU passes on only the positive part of what comes down (Zeiler & Fergus 2014).",
        needs: Needs::Backward,
        readout: None,
        boxes: peak(0.45),
        looks: ONE_LOOK,
    },
    MethodInfo {
        method: Method::Guided,
        name: "guided",
        label: "guided backprop",
        about: "Gradient and deconvnet at once: only positive signals, only through units that were open (Springenberg et al. 2015).",
        needs: Needs::Backward,
        readout: None,
        boxes: peak(0.10),
        looks: ONE_LOOK,
    },
    MethodInfo {
        method: Method::Cam,
        name: "cam",
        label: "CAM",
        about: "The last layer's maps, weighted by how much the class counts on each (Zhou et al. 2016).",
        needs: Needs::Forward,
        readout: None,
        boxes: peak(0.35),
        looks: ONE_LOOK,
    },
    MethodInfo {
        method: Method::GradCam,
        name: "gradcam",
        label: "Grad-CAM",
        about: "The last layer's maps, weighted by their mean gradient, negatives cut (Selvaraju et al. 2017).",
        needs: Needs::Backward,
        readout: None,
        boxes: peak(0.35),
        looks: ONE_LOOK,
    },
    MethodInfo {
        method: Method::FeedbackSoft,
        name: "feedback-soft",
        label: "feedback: soft gates",
        about: "Gates between 0 and 1, raised or lowered by gradient ascent on the class score with a price on every open gate (Cao et al. 2015).",
        needs: Needs::Feedback,
        readout: Some(Readout::Energy),
        boxes: peak(0.35),
        looks: ONE_LOOK,
    },
    MethodInfo {
        method: Method::FeedbackHard,
        name: "feedback-hard",
        label: "feedback: hard gates",
        about: "Gates that are open or closed, set layer by layer from the top, keeping a change only if the class score does not drop (Cao et al. 2015).",
        needs: Needs::Feedback,
        readout: Some(Readout::Energy),
        boxes: peak(0.35),
        looks: ONE_LOOK,
    },
    MethodInfo {
        method: Method::FeedbackFsp,
        name: "feedback-fsp",
        label: "feedback: selective pruning",
        about: "The authors' selective pruning: in one backward pass, close every unit whose gradient is weak, first at the top, then below.",
        needs: Needs::Feedback,
        readout: Some(Readout::Energy),
        boxes: peak(0.5),
        looks: ONE_LOOK,
    },
    MethodInfo {
        method: Method::FeedbackFr,
        name: "feedback-fr",
        label: "feedback: recovering",
        about: "The authors' recovering rule: one backward pass in which each unit keeps only its strongest incoming gradients.",
        needs: Needs::Feedback,
        readout: Some(Readout::Energy),
        boxes: peak(0.5),
        looks: ONE_LOOK,
    },
    MethodInfo {
        method: Method::FeedbackTwice,
        name: "feedback-twice",
        label: "feedback: look twice",
        about: "Gates on the top layers that raise the class's probability against the others, a small step at a time; the map is the evidence for the class that stays open.",
        needs: Needs::Feedback,
        readout: Some(Readout::SignedCam),
        boxes: peak(0.35),
        looks: ONE_LOOK,
    },
    MethodInfo {
        method: Method::FeedbackCloser,
        name: "feedback-closer",
        label: "feedback: look twice, then closer",
        about: "Look twice over the whole photo, then crop the box, look twice again at the crop and paste its sharper map back, until the box stops moving.",
        needs: Needs::Feedback,
        readout: Some(Readout::SignedCam),
        // The closer looks' maps are sharp: the brightest pixels holding 80% of the mass.
        boxes: BoxOptions { sigma: 4.0, threshold: 0.8, rule: BoxRule::Mass },
        // Tuned on the dev photos (docs/RESULTS.md): a margin of 10% of the box, each look's map
        // replacing the one before inside its crop, at most three closer looks.
        looks: CloserOptions { looks: 3, margin: 0.1, weight: 1.0, ..ONE_LOOK },
    },
];

impl Method {
    /// Every method, baselines first.
    pub const ALL: [Method; 11] = {
        let mut all = [Method::Gradient; 11];
        let mut i = 0;
        while i < METHODS.len() {
            all[i] = METHODS[i].method;
            i += 1;
        }
        all
    };
    /// The variant that `feedback` stands for: look twice, then closer (see docs/RESULTS.md).
    pub const FEEDBACK: Method = Method::FeedbackCloser;

    /// This method's row of [`METHODS`].
    pub fn info(self) -> &'static MethodInfo {
        &METHODS[self as usize]
    }

    /// The name used on the command line and in results (`gradient`, `feedback-soft`, …).
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// Whether the method infers feedback gates.
    pub fn is_feedback(self) -> bool {
        self.info().needs == Needs::Feedback
    }

    /// The read-out a feedback method uses unless told otherwise.
    pub fn default_readout(self) -> Readout {
        self.info().readout.unwrap_or(Readout::Gradient)
    }

    /// The method names, `feedback` and every row, for messages and help.
    pub fn names() -> String {
        std::iter::once(DEFAULT_NAME).chain(METHODS.iter().map(|m| m.name)).collect::<Vec<_>>().join(", ")
    }
}

impl FromStr for Method {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        if s == DEFAULT_NAME {
            return Ok(Method::FEEDBACK);
        }
        let alias = match s.as_str() {
            "oxford" | "simonyan" => "gradient",
            "guided-backprop" | "guidedbackprop" => "guided",
            "grad-cam" => "gradcam",
            other => other,
        };
        METHODS.iter().find(|m| m.name == alias).map(|m| m.method).ok_or_else(|| Error::UnknownMethod(format!("{s:?}; methods: {}", Method::names())))
    }
}

/// How converged gates become a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readout {
    /// max over RGB of |∂S/∂I| with the gates in the backward pass (the paper's figures).
    Gradient,
    /// Energy of the gated activations: Σ over channels of `z ⊙ relu6(x)` for the energy layers,
    /// each resized to the input and normalised to max 1, then summed (the authors' FSP code).
    Energy,
    /// CAM of the gated head: `ReLU(Σ_k w_ck z_k y_k)`; the channels that vote against c still subtract.
    Cam,
    /// Contrastive CAM of the gated head: `ReLU(Σ_k (w_ck − α Σ_c' p_c' w_c'k) z_k y_k)`, with p
    /// the network's own belief (the ungated pass) and α [`super::SaliencyOptions::contrast`]: evidence
    /// for c that the other likely classes do not share.
    ContrastiveCam,
    /// Signed contrastive CAM: `ReLU(Σ_k w'_k a_k z_k^[w'_k ≥ 0])`, `w' = w_c − α Σ_c' p_c' w_c'`
    /// (p the network's own belief), `a` the head's activation in the gated pass before its gate.
    /// The head's gates prune only evidence *for* c; evidence against c always subtracts, so
    /// closing it (which raises p_c) cannot spread the map onto the neighbours it separates.
    SignedCam,
    /// Evidence of the open neurons: at each position of each energy layer, `ReLU(Σ_k z_k ∂S/∂z_k)`,
    /// the first-order share of S that the open neurons there carry (gated CAM at the head, finer
    /// below it); the layers' maps are resized to the input, normalised to max 1 and summed.
    Evidence,
}

impl Readout {
    /// Every read-out.
    pub const ALL: [Readout; 6] = [Readout::Gradient, Readout::Energy, Readout::Cam, Readout::ContrastiveCam, Readout::SignedCam, Readout::Evidence];

    /// The name on the command line (`--readout`).
    pub fn name(self) -> &'static str {
        match self {
            Readout::Gradient => "gradient",
            Readout::Energy => "energy",
            Readout::Cam => "cam",
            Readout::ContrastiveCam => "contrastive-cam",
            Readout::SignedCam => "signed-cam",
            Readout::Evidence => "evidence",
        }
    }
}

impl FromStr for Readout {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        Readout::ALL.into_iter().find(|r| r.name() == s).ok_or_else(|| {
            Error::UnknownMethod(format!("read-out {s:?}; read-outs: {}", Readout::ALL.map(|r| r.name()).join(", ")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_its_methods_and_every_name_parses_back() {
        for (i, row) in METHODS.iter().enumerate() {
            assert_eq!(row.method as usize, i, "{} is out of Method's order", row.name);
            assert_eq!(row.name.parse::<Method>().unwrap(), row.method);
            assert_eq!(row.method.is_feedback(), row.readout.is_some(), "{}: feedback methods, and only they, have a read-out", row.name);
        }
        assert_eq!(DEFAULT_NAME.parse::<Method>().unwrap(), Method::FEEDBACK);
        for r in Readout::ALL {
            assert_eq!(r.name().parse::<Readout>().unwrap(), r);
        }
        assert!("nope".parse::<Method>().unwrap_err().to_string().contains("feedback-closer"));
    }
}
