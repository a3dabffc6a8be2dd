/**
 * The tape: {@link dinoseg.autograd.Var} (a value with an optional gradient), {@link dinoseg.autograd.Tape}
 * (records each op with its backward) and {@link dinoseg.autograd.Ops} (every differentiable op as forward
 * plus backward over the {@link dinoseg.backend.Backend} primitives, a no-grad scope, {@code backward(loss)}),
 * in the manner of micrograd/tinygrad: the core stays small.
 *
 * <p>May use: {@code backend}, {@code tensor}.
 */
package dinoseg.autograd;
