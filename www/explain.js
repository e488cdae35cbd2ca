// One explain, streamed into a Stage: every frame drawn as it arrives (unless the visitor took
// over the animation), the results kept. The page (once per panel) and the widget both run it.

// Explains `request` ({classes, method, …}) with `client` into `stage`, telling `animator` of
// every frame; onFrame(frame) sees each too. Resolves to the results.
export async function explainInto(client, stage, animator, request, onFrame = () => {}) {
  stage.start(request.method);
  const results = await client.explain(request, (frame) => {
    stage.add(frame);
    if (animator.live) stage.run.focus = frame.class;
    animator.added(stage.frames(frame.class).length);
    onFrame(frame);
  });
  stage.finish(results);
  stage.run.focus = results[0]?.class;
  return results;
}
