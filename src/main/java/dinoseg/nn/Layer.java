package dinoseg.nn;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;

/** A module with one input and one output. */
public interface Layer {
    Var forward(Ops ops, Var x);
}
