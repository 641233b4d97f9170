import type { Command } from 'commander';
import type { CatalogProduct } from '../../models/demand/training-data';
import { trainAndPublish, type PublishedModel } from '../../models/demand/train-from-lake';
import { createLocalPorts } from '../../tasks/runtime/local-ports';
import { action, addLakeOption, existingLake } from '../command-helpers';
import { formatCount, renderTable } from '../render';

export function registerTrainModel(program: Command): void {
  addLakeOption(
    program
      .command('train-model')
      .description(
        'fit the demand model (units per view against price, per category) on the curated events and the orders, measure it on the latest hours, and publish it under models/demand/',
      ),
  ).action(
    action('train-model', async (options: { lake: string }) => {
      const lake = await existingLake(options.lake);
      process.stdout.write(`${describeTraining(await trainAndPublish(createLocalPorts(lake)))}\n`);
    }),
  );
}

export function describeTraining({ model, key, catalog }: PublishedModel): string {
  const { trainedOn, evaluation } = model;
  const ratio = evaluation.baselineRmse > 0 ? (evaluation.modelRmse / evaluation.baselineRmse).toFixed(2) : '-';
  const rows = Object.entries(model.categories).map(([category, curve]) => [
    category,
    `${curve.elasticity.toFixed(2)} ± ${curve.elasticitySd.toFixed(2)}`,
    trueElasticityOf(catalog, category),
    formatCount(curve.views),
    formatCount(curve.units),
  ]);
  return [
    `model ${model.version}: trained on event hours ${trainedOn.from} .. ${trainedOn.holdoutFrom}, measured on ${trainedOn.holdoutFrom} .. ${trainedOn.to}`,
    `  holdout: ${formatCount(evaluation.units)} units of ${formatCount(evaluation.products)} products`,
    `  RMSE of units per product: model ${evaluation.modelRmse.toFixed(2)}, price-blind baseline ${evaluation.baselineRmse.toFixed(2)} (ratio ${ratio})`,
    indent(renderTable(['category', 'elasticity (est. ± sd)', 'true', 'views', 'units'], rows)),
    `  artifact: ${key} (now current)`,
  ].join('\n');
}

/** The generator's elasticity of the category's products (their mean, should they differ), or '-' where the catalog has none. */
function trueElasticityOf(catalog: readonly CatalogProduct[], category: string): string {
  const values = catalog.filter((product) => product.category === category && product.trueElasticity !== undefined).map((product) => product.trueElasticity as number);
  return values.length === 0 ? '-' : (values.reduce((total, value) => total + value, 0) / values.length).toFixed(2);
}

function indent(text: string): string {
  return text.replace(/^/gm, '  ');
}
