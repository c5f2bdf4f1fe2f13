// GET /openapi.json: the OpenAPI 3.1 document.
import { Router } from '@koa/router';
import { openApiDocument } from '../openapi.ts';

export function openApiRoutes(): Router {
  const router = new Router();
  router.get('/openapi.json', (ctx) => {
    ctx.body = openApiDocument;
  });
  return router;
}
